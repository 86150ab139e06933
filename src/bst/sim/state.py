"""The simulator's configuration and the state every route module shares."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bst.bybit.endpoints import (
    IP_LIMIT_REQUESTS,
    IP_LIMIT_WINDOW_S,
    SIM_DEFAULT_PORT,
    UID_LIMITS_PER_S,
    RateGroup,
)
from bst.domain.clock import Clock, SystemClock
from bst.domain.errors import ConfigError
from bst.domain.market import Category
from bst.sim.catalog import InstrumentSpec
from bst.sim.faults import FaultConfig, FaultInjector
from bst.sim.generator import MarketGenerator
from bst.sim.limits import LimitDecision, SlidingWindowLimiter

# Spot allows more order traffic than derivatives on these groups (Bybit's default tier).
_SPOT_UID_LIMITS_PER_S: dict[RateGroup, int] = {
    RateGroup.ORDER_CREATE: 20,
    RateGroup.ORDER_CANCEL: 20,
    RateGroup.ORDER_CANCEL_ALL: 20,
    RateGroup.ORDER_CREATE_BATCH: 20,
    RateGroup.ORDER_AMEND_BATCH: 20,
    RateGroup.ORDER_CANCEL_BATCH: 20,
}


@dataclass(frozen=True, slots=True)
class SimConfig:
    """How `bst sim` runs: where it listens, its seed, its limits and faults.

    `port=0` picks a free port (read it back from `SimServer.port`). `ip_limit_requests=0` turns
    the IP limit off. `ip_ban_s > 0` keeps refusing an IP for that long after a breach, as Bybit
    does (it bans for about 10 minutes); the default only refuses while the window is full.
    """

    host: str = "127.0.0.1"
    port: int = SIM_DEFAULT_PORT
    seed: int = 0
    ip_limit_requests: int = IP_LIMIT_REQUESTS
    ip_limit_window_s: float = IP_LIMIT_WINDOW_S
    ip_ban_s: float = 0.0
    faults: FaultConfig = field(default_factory=FaultConfig)
    gaps: bool = True
    instruments: tuple[InstrumentSpec, ...] | None = None
    access_log: bool = False
    shutdown_grace_s: float = 1.0
    admin_token: str | None = field(default=None, repr=False)
    """When set, admin routes (`/sim/admin/*`, `/sim/ws*`) need `Authorization: Bearer <token>` from
    everyone; when None they answer loopback peers only. Never printed or logged."""

    def __post_init__(self) -> None:
        if self.admin_token is not None and not self.admin_token.strip():
            raise ConfigError("the sim's admin token must not be empty")


Hook = Callable[[], Awaitable[None]]


class SimState:
    """Everything the routes share: generator, clock, faults, limiters, and room for other modules.

    Route modules written by others attach their own state under `extras` (e.g. a matching engine
    or a WebSocket hub) and register coroutines in `on_startup` / `on_shutdown`, which run inside
    the server's event loop.
    """

    def __init__(self, config: SimConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.generator = MarketGenerator(config.seed, config.instruments, gaps=config.gaps)
        self.faults = FaultInjector(config.faults, config.seed)
        self.ip_limiter = SlidingWindowLimiter(config.ip_limit_requests, config.ip_limit_window_s, self.clock)
        self.ip_ban_s = config.ip_ban_s
        self.ip_banned_until: dict[str, float] = {}
        self._uid_limiters: dict[tuple[RateGroup, bool], SlidingWindowLimiter] = {}
        self._lock = threading.Lock()
        self.extras: dict[str, Any] = {}
        self.on_startup: list[Hook] = []
        self.on_shutdown: list[Hook] = []
        self.requests_served = 0
        self.stopping: asyncio.Event | None = None

    def now_ms(self) -> int:
        """Return the simulator's current time (epoch ms)."""
        return self.clock.now_ms()

    def set_clock(self, clock: Clock) -> None:
        """Swap the clock (tests pin or move time); limiter windows restart."""
        self.clock = clock
        self.ip_limiter.set_clock(clock)
        with self._lock:
            for limiter in self._uid_limiters.values():
                limiter.set_clock(clock)

    def uid_limiter(self, group: RateGroup, category: Category | None = None) -> SlidingWindowLimiter:
        """Return the per-UID limiter of an endpoint group (1 s rolling window, Bybit's default tier)."""
        spot = category is Category.SPOT and group in _SPOT_UID_LIMITS_PER_S
        key = (group, spot)
        with self._lock:
            limiter = self._uid_limiters.get(key)
            if limiter is None:
                per_s = _SPOT_UID_LIMITS_PER_S[group] if spot else UID_LIMITS_PER_S.get(group, 0)
                limiter = SlidingWindowLimiter(per_s, 1.0, self.clock)
                self._uid_limiters[key] = limiter
            return limiter

    def check_uid_limit(self, uid: str, group: RateGroup, category: Category | None = None) -> LimitDecision:
        """Count one private request of `uid` in `group`; a refused decision means reply 10006."""
        return self.uid_limiter(group, category).hit(uid)

    def check_ip(self, ip: str) -> LimitDecision:
        """Count one request from `ip` against the IP limit (and any ban in force)."""
        now_s = self.clock.monotonic()
        banned_until = self.ip_banned_until.get(ip)
        if banned_until is not None:
            if now_s < banned_until:
                limiter = self.ip_limiter
                reset_ms = self.clock.now_ms() + int((banned_until - now_s) * 1000)
                return LimitDecision(False, limiter.limit, 0, reset_ms)
            del self.ip_banned_until[ip]
        decision = self.ip_limiter.hit(ip)
        if not decision.allowed and self.ip_ban_s > 0:
            self.ip_banned_until[ip] = now_s + self.ip_ban_s
        return decision

    def reset(self, faults: FaultConfig | None = None) -> None:
        """Restore faults (to `faults` or the configured ones) and forget every counted request."""
        self.faults.configure(faults if faults is not None else self.config.faults)
        self.faults.reset_counts()
        self.ip_limiter.reconfigure(self.config.ip_limit_requests, self.config.ip_limit_window_s)
        self.ip_ban_s = self.config.ip_ban_s
        self.ip_banned_until.clear()
        with self._lock:
            for limiter in self._uid_limiters.values():
                limiter.reset()
        self.requests_served = 0

    async def hold(self, seconds: float) -> None:
        """Wait `seconds` of real time, or less if the server is stopping.

        Network-level delays (latency, held replies) must be real: the client's timeouts are.
        """
        if seconds <= 0:
            return
        stopping = self.stopping
        if stopping is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(stopping.wait(), timeout=seconds)
        except TimeoutError:
            return
