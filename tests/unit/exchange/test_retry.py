"""Retry policy: transient errors only, exponential backoff, never blind repeats of unknown outcomes."""

import random

import pytest

from bst.domain import errors as e
from bst.domain.clock import ManualClock
from bst.exchange.config import RetryConfig
from bst.exchange.retry import BackoffWait, call_with_retry

CONFIG = RetryConfig(max_attempts=4, initial_delay_s=1.0, backoff_factor=2.0, max_delay_s=30.0, jitter_s=0.0)


class Flaky:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


async def test_transient_errors_are_retried_with_exponential_backoff() -> None:
    clock = ManualClock(autojump=True)
    op = Flaky([e.BybitServerError("5xx"), e.BybitTimeoutError("slow"), e.BybitConnectionError("reset")])
    assert await call_with_retry(op, config=CONFIG, clock=clock, what="t") == "ok"
    assert op.calls == 4
    assert clock.slept_s == [1.0, 2.0, 4.0]


@pytest.mark.parametrize(
    "error",
    [
        e.BybitInvalidParameterError("params error", ret_code=10001),
        e.BybitSymbolNotFoundError("params error: symbol invalid", ret_code=10001),
        e.BybitSignatureError("error sign!", ret_code=10004),
        e.BybitAuthError("expired", ret_code=33004),
    ],
)
async def test_parameter_and_auth_errors_fail_at_once(error: e.BybitAPIError) -> None:
    clock = ManualClock(autojump=True)
    op = Flaky([error])
    with pytest.raises(type(error)):
        await call_with_retry(op, config=CONFIG, clock=clock, what="t")
    assert op.calls == 1
    assert clock.slept_s == []


async def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    clock = ManualClock(autojump=True)
    op = Flaky([e.BybitServerError(f"fail {i}") for i in range(10)])
    with pytest.raises(e.BybitServerError, match="fail 3"):
        await call_with_retry(op, config=CONFIG, clock=clock, what="t")
    assert op.calls == 4


async def test_unknown_outcomes_are_not_repeated_when_unsafe() -> None:
    clock = ManualClock(autojump=True)
    op = Flaky([e.BybitTimeoutError("no reply")])
    with pytest.raises(e.BybitTimeoutError):
        await call_with_retry(op, config=CONFIG, clock=clock, what="create", repeat_safe=False)
    assert op.calls == 1
    # ... but a failure to connect at all is safe to repeat even for an order.
    op = Flaky([e.BybitConnectionError("refused")])
    assert await call_with_retry(op, config=CONFIG, clock=clock, what="create", repeat_safe=False) == "ok"


def test_rate_limit_waits_until_the_reset_time() -> None:
    clock = ManualClock(start_ms=1_000_000)
    wait = BackoffWait(CONFIG, clock)
    err = e.BybitRateLimitError("Too many visits!", ret_code=10006, reset_at_ms=1_007_500)
    assert wait.delay_for(1, err) == 7.5
    assert wait.delay_for(1, e.BybitServerError("x")) == 1.0


def test_jitter_stays_within_its_bound_and_backoff_is_capped() -> None:
    cfg = RetryConfig(max_attempts=10, initial_delay_s=1.0, backoff_factor=2.0, max_delay_s=5.0, jitter_s=0.5)
    wait = BackoffWait(cfg, ManualClock(), random.Random(7))
    delays = [wait.delay_for(n, e.BybitServerError("x")) for n in range(1, 8)]
    bases = [1, 2, 4, 5, 5, 5, 5]
    assert all(b <= d <= b + 0.5 for b, d in zip(bases, delays, strict=True))
