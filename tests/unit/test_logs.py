"""Logging: JSON lines with bound context, secrets masked, errors-only file."""

import io
import json
import logging
from pathlib import Path

import structlog

from bst.logs import configure_logging


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_bound_context_and_mask_secrets(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging("INFO", json_format=True, stream=stream)
    log = structlog.get_logger("bst.test").bind(symbol="BTCUSDT", interval="60", trace_id="t-1")
    log.info("klines.fetched", duration_ms=12.5, api_secret="s3cr3t", count=10)
    log.debug("hidden")
    (record,) = _lines(stream)
    assert record["event"] == "klines.fetched"
    assert (record["symbol"], record["interval"], record["trace_id"]) == ("BTCUSDT", "60", "t-1")
    assert record["duration_ms"] == 12.5
    assert record["api_secret"] == "********"
    assert record["level"] == "info"
    assert "s3cr3t" not in stream.getvalue()


def test_stdlib_loggers_share_the_format(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging("WARNING", json_format=True, stream=stream)
    logging.getLogger("some.lib").warning("careful %s", "now")
    (record,) = _lines(stream)
    assert record["event"] == "careful now"
    assert record["logger"] == "some.lib"


def test_rotating_files_split_general_and_errors(tmp_path: Path) -> None:
    configure_logging("INFO", json_format=False, log_dir=tmp_path / "logs", stream=io.StringIO())
    log = structlog.get_logger("bst.test")
    log.info("all good")
    log.error("it broke", symbol="ETHUSDT")
    for handler in logging.getLogger().handlers:
        handler.flush()
    general = [json.loads(x) for x in (tmp_path / "logs" / "bst.log").read_text().splitlines()]
    errors = [json.loads(x) for x in (tmp_path / "logs" / "errors.log").read_text().splitlines()]
    assert [r["event"] for r in general] == ["all good", "it broke"]
    assert [r["event"] for r in errors] == ["it broke"]
    assert errors[0]["symbol"] == "ETHUSDT"


def test_console_format_is_readable() -> None:
    stream = io.StringIO()
    configure_logging("INFO", json_format=False, stream=stream)
    structlog.get_logger("bst.test").info("hello", symbol="SOLUSDT")
    text = stream.getvalue()
    assert "hello" in text
    assert "symbol=SOLUSDT" in text
    assert not text.lstrip().startswith("{")
