"""Settings: env prefix, presets, validation with one clear line, secrets masked."""

from pathlib import Path

import pytest

from bst.domain.errors import ConfigError
from bst.settings import Environment, Settings, describe_fields, load_settings


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(__import__("os").environ):
        if name.startswith("BYBIT_"):
            monkeypatch.delenv(name)


def test_defaults_follow_the_seed_notes() -> None:
    s = load_settings()
    assert s.api_timeout == 10.0
    assert (s.retry.max_attempts, s.retry.initial_delay_s, s.retry.backoff_factor) == (3, 1.0, 2.0)
    assert s.env is Environment.MAINNET
    assert (s.api_base_url, s.ws_base_url) == (None, None)
    assert s.log_level == "INFO"


def test_environment_variables_are_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYBIT_API_TIMEOUT", "15")
    monkeypatch.setenv("BYBIT_RATE_LIMIT_DELAY", "0.5")
    monkeypatch.setenv("BYBIT_LOG_LEVEL", "debug")
    s = load_settings()
    assert (s.api_timeout, s.rate_limit_delay, s.log_level) == (15.0, 0.5, "DEBUG")


def test_dotenv_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BYBIT_ENV=testnet\nBYBIT_RETRY_MAX_ATTEMPTS=5\n")
    s = load_settings()
    assert s.env is Environment.TESTNET
    assert s.retry.max_attempts == 5


@pytest.mark.parametrize(("text", "env"), [("sim", Environment.SIM), ("MAINNET", Environment.MAINNET)])
def test_environment_names_ignore_case(monkeypatch: pytest.MonkeyPatch, text: str, env: Environment) -> None:
    monkeypatch.setenv("BYBIT_ENV", text)
    assert load_settings().env is env


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("BYBIT_API_TIMEOUT", "abc", "BYBIT_API_TIMEOUT='abc'"),
        ("BYBIT_API_TIMEOUT", "-1", "greater than 0"),
        ("BYBIT_ENV", "prod", "BYBIT_ENV='prod'"),
        ("BYBIT_LOG_LEVEL", "LOUD", "BYBIT_LOG_LEVEL"),
        ("BYBIT_RETRY_MAX_ATTEMPTS", "0", "greater than or equal to 1"),
    ],
)
def test_invalid_values_fail_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_secrets_are_masked_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYBIT_API_KEY", "my-key-123")
    monkeypatch.setenv("BYBIT_API_SECRET", "my-secret-456")
    s = load_settings()
    shown = s.masked()
    assert shown["BYBIT_API_KEY"] == "********"
    assert "my-secret-456" not in repr(s)
    assert "my-secret-456" not in str(shown)
    assert "my-key-123" not in repr(s.api)
    assert s.api_secret is not None
    assert s.api_secret.get_secret_value() == "my-secret-456"


def test_env_example_documents_every_variable() -> None:
    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    for variable, default, _ in describe_fields():
        assert f"{variable}=" in example, variable
        if default and variable != "BYBIT_JWT_SECRET":
            assert f"{variable}={default}" in example, variable


def test_settings_is_frozen() -> None:
    s = Settings()
    with pytest.raises(Exception, match="frozen"):
        s.api_timeout = 3  # type: ignore[misc]


def test_readme_documents_every_variable() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for variable, _, _ in describe_fields():
        assert f"`{variable}`" in readme, variable
