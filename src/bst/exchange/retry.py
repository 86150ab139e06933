"""Retry policy: transient failures only, exponential backoff with jitter, every attempt logged.

Built on tenacity; the sleep goes through the injected clock so tests run without real waits.
Never retried: parameter and auth errors (they cannot succeed by repeating), and, for requests
that are not safe to repeat (order placement), anything whose outcome is unknown.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from bst.domain.clock import Clock
from bst.domain.errors import BybitAPIError, BybitRateLimitError
from bst.exchange.config import RetryConfig

log = structlog.get_logger(__name__)
T = TypeVar("T")


def is_retryable(exc: BaseException, *, repeat_safe: bool = True) -> bool:
    """Return whether `exc` may be retried; unknown outcomes only when repeating is safe."""
    if not isinstance(exc, BybitAPIError) or not exc.retryable:
        return False
    return repeat_safe or not exc.outcome_unknown


class BackoffWait:
    """Exponential backoff with additive jitter; rate-limit replies wait until their reset time."""

    def __init__(self, config: RetryConfig, clock: Clock, rng: random.Random | None = None) -> None:
        self._config = config
        self._clock = clock
        self._rng = rng or random.Random()

    def delay_for(self, attempt: int, exc: BaseException | None) -> float:
        """Return the wait before attempt `attempt + 1` after `exc` ended attempt `attempt`."""
        cfg = self._config
        delay = min(cfg.max_delay_s, cfg.initial_delay_s * cfg.backoff_factor ** (attempt - 1))
        delay += self._rng.uniform(0, cfg.jitter_s)
        if isinstance(exc, BybitRateLimitError) and exc.reset_at_ms is not None:
            until_reset = (exc.reset_at_ms - self._clock.now_ms()) / 1000
            delay = max(delay, min(cfg.max_delay_s, until_reset))
        return max(0.0, delay)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return self.delay_for(state.attempt_number, exc)


async def call_with_retry(
    operation: Callable[[], Awaitable[T]],
    *,
    config: RetryConfig,
    clock: Clock,
    what: str,
    repeat_safe: bool = True,
    rng: random.Random | None = None,
) -> T:
    """Run `operation`, retrying transient failures per `config`; re-raise the last error."""
    wait = BackoffWait(config, clock, rng)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "request.retry",
            what=what,
            attempt=state.attempt_number,
            max_attempts=config.max_attempts,
            delay_ms=round((state.upcoming_sleep or 0) * 1000, 1),
            error=str(exc),
        )

    retrying = AsyncRetrying(
        stop=stop_after_attempt(config.max_attempts),
        wait=wait,
        retry=retry_if_exception(lambda e: is_retryable(e, repeat_safe=repeat_safe)),
        sleep=clock.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await operation()
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover
