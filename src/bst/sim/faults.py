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
    """A fault setting is out of range or unknown."""


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
        for name in ("latency_ms", "latency_jitter_ms", "timeout_hold_s"):
            if getattr(self, name) < 0:
                raise FaultConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        total = 0.0
        for attr in _RATE_FIELDS.values():
            rate = float(getattr(self, attr))
            if not 0.0 <= rate <= 1.0:
                raise FaultConfigError(f"{attr} must be within [0, 1], got {rate}")
            total += rate
        if total > 1.0 + 1e-9:
            raise FaultConfigError(f"fault rates add up to {total:.3f}; their sum must be at most 1")
        if not self.error_codes or not self.http_5xx_codes:
            raise FaultConfigError("error_codes and http_5xx_codes must not be empty")
        if any(not 500 <= c <= 599 for c in self.http_5xx_codes):
            raise FaultConfigError(f"http_5xx_codes must be 5xx statuses, got {self.http_5xx_codes}")

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
        try:
            for name, value in changes.items():
                if name == "script":
                    converted[name] = tuple(FaultKind(str(v)) for v in value)
                elif name in ("error_codes", "http_5xx_codes"):
                    converted[name] = tuple(int(v) for v in value)
                elif name == "path_prefixes":
                    converted[name] = tuple(str(v) for v in value)
                elif name == "seed":
                    converted[name] = None if value is None else int(value)
                else:
                    converted[name] = float(value)
        except (TypeError, ValueError) as e:
            raise FaultConfigError(f"bad fault setting: {e}") from None
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
