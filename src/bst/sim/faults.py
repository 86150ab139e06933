"""Seeded fault injection for the simulator: latency, error replies, 5xx, held replies, dropped connections.

Each request under the faulted path prefixes draws its fault from one seeded random stream (or
from a script of kinds for the next requests), so a run with the same seed and the same request
order sees the same faults. Rates are exclusive: at most one fault kind per request.

Where each kind acts (so private routes get Bybit's ambiguous outcomes right):
- error, 5xx, ratelimit, ipban: the request is refused before it reaches the route (no effect).
- timeout, drop: the route runs (an order would be placed), then the reply is held for
  `timeout_hold_s` or its connection is cut after the status line and headers.
- latency: added before the route runs, on every faulted request.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import Any

from bst.bybit.retcodes import RetCode
from bst.domain.errors import InvalidNumberError
from bst.domain.numbers import parse_decimal


class FaultKind(StrEnum):
    """What happens to one request."""

    NONE = "ok"
    ERROR = "error"
    HTTP_5XX = "5xx"
    TIMEOUT = "timeout"
    DROP = "drop"
    RATE_LIMIT = "ratelimit"
    IP_BAN = "ipban"


_RATE_FIELDS: dict[FaultKind, str] = {
    FaultKind.ERROR: "error_rate",
    FaultKind.HTTP_5XX: "http_5xx_rate",
    FaultKind.TIMEOUT: "timeout_rate",
    FaultKind.DROP: "drop_rate",
    FaultKind.RATE_LIMIT: "rate_limit_rate",
    FaultKind.IP_BAN: "ip_ban_rate",
}


class FaultConfigError(ValueError):
    """A fault or admin setting is out of range or unknown (answered as HTTP 400 by admin routes)."""


MAX_LATENCY_MS = 60_000.0
"""Added latency and jitter per request: at most a minute (more hangs every client)."""
MAX_HOLD_S = 600.0
"""A held reply is released after at most ten minutes."""
MAX_SCRIPT = 10_000
MAX_SEED = 2**63 - 1
MAX_RET_CODE = 999_999


def _show(value: float) -> str:
    # Plain digits for the bounds and values people type (no 3.1536e+09).
    return str(int(value)) if value.is_integer() and abs(value) < 1e18 else repr(value)


def bounded_number(value: object, name: str, low: float, high: float) -> float:
    """Return a setting as a finite number within [low, high] (JSON number or numeric text), or raise."""
    try:
        number = float(parse_decimal(value))
    except InvalidNumberError as e:
        raise FaultConfigError(
            f"{name} must be a number within [{_show(low)}, {_show(high)}]: {e.reason}"
        ) from None
    if not low <= number <= high:
        raise FaultConfigError(f"{name} must be within [{_show(low)}, {_show(high)}], got {_show(number)}")
    return number


def bounded_int(value: object, name: str, low: int, high: int) -> int:
    """Return a setting as a whole number within [low, high], or raise FaultConfigError."""
    try:
        number = parse_decimal(value)
    except InvalidNumberError as e:
        raise FaultConfigError(f"{name} must be a whole number within [{low}, {high}]: {e.reason}") from None
    if number != number.to_integral_value() or not low <= number <= high:
        raise FaultConfigError(
            f"{name} must be a whole number within [{low}, {high}], got {_show(float(number))}"
        )
    return int(number)


_NUMBER_BOUNDS: dict[str, float] = {
    "latency_ms": MAX_LATENCY_MS,
    "latency_jitter_ms": MAX_LATENCY_MS,
    "timeout_hold_s": MAX_HOLD_S,
    **dict.fromkeys(_RATE_FIELDS.values(), 1.0),
}
"""Upper bound of every numeric fault setting (each lower bound is 0)."""


def _listed(value: object, name: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise FaultConfigError(f"{name} must be a list")
    return list(value)


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Fault settings; rates are probabilities per request (their sum at most 1)."""

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_rate: float = 0.0
    error_codes: tuple[int, ...] = (RetCode.SERVER_ERROR, RetCode.SERVER_TIMEOUT)
    http_5xx_rate: float = 0.0
    http_5xx_codes: tuple[int, ...] = (500, 502, 503)
    timeout_rate: float = 0.0
    timeout_hold_s: float = 30.0
    drop_rate: float = 0.0
    rate_limit_rate: float = 0.0
    ip_ban_rate: float = 0.0
    script: tuple[FaultKind, ...] = ()
    path_prefixes: tuple[str, ...] = ("/v5/",)
    seed: int | None = None

    def __post_init__(self) -> None:
        for name, high in _NUMBER_BOUNDS.items():
            bounded_number(getattr(self, name), name, 0.0, high)
        total = sum(float(getattr(self, attr)) for attr in _RATE_FIELDS.values())
        if total > 1.0 + 1e-9:
            raise FaultConfigError(f"fault rates add up to {total:.3f}; their sum must be at most 1")
        if not self.error_codes or not self.http_5xx_codes:
            raise FaultConfigError("error_codes and http_5xx_codes must not be empty")
        if any(not 500 <= c <= 599 for c in self.http_5xx_codes):
            raise FaultConfigError(f"http_5xx_codes must be 5xx statuses, got {list(self.http_5xx_codes)}")
        for code in self.error_codes:
            bounded_int(code, "error_codes", 1, MAX_RET_CODE)
        if len(self.script) > MAX_SCRIPT:
            raise FaultConfigError(f"script must hold at most {MAX_SCRIPT} kinds, got {len(self.script)}")
        if self.seed is not None:
            bounded_int(self.seed, "seed", 0, MAX_SEED)

    @property
    def active(self) -> bool:
        """Return whether any fault or latency is configured."""
        return bool(
            self.latency_ms
            or self.latency_jitter_ms
            or self.script
            or any(getattr(self, attr) for attr in _RATE_FIELDS.values())
        )

    def to_json(self) -> dict[str, Any]:
        """Return the settings as JSON-ready values."""
        data = asdict(self)
        data["script"] = [k.value for k in self.script]
        data["error_codes"] = list(self.error_codes)
        data["http_5xx_codes"] = list(self.http_5xx_codes)
        data["path_prefixes"] = list(self.path_prefixes)
        return data

    def updated(self, changes: dict[str, Any]) -> FaultConfig:
        """Return a copy with `changes` (JSON values) applied; unknown keys raise FaultConfigError."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise FaultConfigError(f"unknown fault setting(s): {', '.join(unknown)}")
        converted: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "script":
                kinds = {k.value: k for k in FaultKind}
                unknown_kinds = [str(v) for v in _listed(value, name) if str(v) not in kinds]
                if unknown_kinds:
                    raise FaultConfigError(
                        f"unknown fault kind {unknown_kinds[0]!r} in script: use {', '.join(kinds)}"
                    )
                converted[name] = tuple(kinds[str(v)] for v in _listed(value, name))
            elif name in ("error_codes", "http_5xx_codes"):
                converted[name] = tuple(bounded_int(v, name, 1, MAX_RET_CODE) for v in _listed(value, name))
            elif name == "path_prefixes":
                converted[name] = tuple(str(v) for v in _listed(value, name))
            elif name == "seed":
                converted[name] = None if value is None else bounded_int(value, name, 0, MAX_SEED)
            else:
                converted[name] = bounded_number(value, name, 0.0, _NUMBER_BOUNDS[name])
        return replace(self, **converted)


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """The fault chosen for one request."""

    kind: FaultKind
    latency_s: float = 0.0
    code: int = 0


NO_FAULT = FaultDecision(FaultKind.NONE)


class FaultInjector:
    """Draws one FaultDecision per request from the configured rates (thread-safe)."""

    def __init__(self, config: FaultConfig, default_seed: int) -> None:
        self._default_seed = default_seed
        self._lock = threading.Lock()
        self._config = config
        self._rng = random.Random()
        self._script: deque[FaultKind] = deque()
        self.injected: Counter[str] = Counter()
        self.configure(config)

    @property
    def config(self) -> FaultConfig:
        """Return the settings in force."""
        return self._config

    def configure(self, config: FaultConfig) -> None:
        """Replace the settings and restart the random stream, the script and the counts."""
        with self._lock:
            self._config = config
            self.injected.clear()
            self._rng = random.Random(config.seed if config.seed is not None else self._default_seed)
            self._script = deque(config.script)

    def reset_counts(self) -> None:
        """Forget how many faults were injected."""
        with self._lock:
            self.injected.clear()

    def applies_to(self, path: str) -> bool:
        """Return whether requests to `path` are subject to faults."""
        return any(path.startswith(prefix) for prefix in self._config.path_prefixes)

    def decide(self, path: str) -> FaultDecision:
        """Return the fault for the next request to `path`."""
        if not self.applies_to(path):
            return NO_FAULT
        with self._lock:
            config = self._config
            if not config.active:
                return NO_FAULT
            latency_s = (config.latency_ms + config.latency_jitter_ms * self._rng.random()) / 1000.0
            kind = self._script.popleft() if self._script else self._draw_kind(config)
            code = 0
            if kind is FaultKind.ERROR:
                code = self._rng.choice(config.error_codes)
            elif kind is FaultKind.HTTP_5XX:
                code = self._rng.choice(config.http_5xx_codes)
            if kind is not FaultKind.NONE:
                self.injected[kind.value] += 1
            return FaultDecision(kind, latency_s, code)

    def _draw_kind(self, config: FaultConfig) -> FaultKind:
        draw = self._rng.random()
        edge = 0.0
        for kind, attr in _RATE_FIELDS.items():
            edge += float(getattr(config, attr))
            if draw < edge:
                return kind
        return FaultKind.NONE
