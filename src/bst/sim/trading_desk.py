"""The simulator's trading side: API keys to accounts, the matching engine fed from the generator.

`install(state, TradingConfig(...))` before the server starts puts a `TradingDesk` in
`state.extras["trading"]`; the trading routes find it there. Each API key is its own account,
funded at creation. The engine sees the generator's market for every symbol someone trades, as the
domain market events `bst.sim.desk_feed` builds (the public trades since it last looked, which fill
resting orders; tickers with the mark price and the period's funding rate; a fresh book snapshot),
merged in time order by the engine's `Feeder`; `sync()` brings it up to the sim clock, called
before every private request and by a background ticker, so fills arrive without polling. With a
state file, the engine and the key -> account map survive a restart (saved by the ticker when
changed, and on stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import structlog

from bst.domain.errors import ConfigError
from bst.domain.market import Category
from bst.engine import AccountMessage, EngineConfig, Feeder, LatencyModel, MatchingEngine, SymbolSpec
from bst.sim.desk_feed import BOOK_REFRESH_MS, start_sources, sync_sources
from bst.sim.generator import MarketGenerator
from bst.sim.state import SimState

log = structlog.get_logger(__name__)
T = TypeVar("T")

EXTRAS_KEY = "trading"
_MAJORS = ("BTC", "ETH")


@dataclass(frozen=True, slots=True)
class ApiAccount:
    """One API key pair and the account it trades for, funded with `balances` when first created."""

    api_key: str
    api_secret: str
    balances: Mapping[str, Decimal] = field(default_factory=lambda: {"USDT": Decimal(100_000)})


@dataclass(frozen=True, slots=True)
class TradingConfig:
    """How the sim trades: its accounts, persistence, and the engine's latency/queue models."""

    accounts: tuple[ApiAccount, ...] = ()
    state_file: Path | None = None
    latency_ms: int = 0
    queue_model: bool = True
    tick_s: float = 0.25
    save_every_s: float = 5.0


def spec_for(instrument: Any) -> SymbolSpec:
    """Return the engine spec of a generator instrument, with Bybit-like tier-1 risk parameters."""
    major = instrument.base_coin in _MAJORS
    return SymbolSpec(
        instrument,
        maintenance_margin_rate=Decimal("0.005") if major else Decimal("0.01"),
        market_slippage_ratio=Decimal("0.01") if major else Decimal("0.05"),
    )


class TradingDesk:
    """Accounts, keys and the engine, fed lazily from the generator; thread-safe."""

    def __init__(self, state: SimState, config: TradingConfig) -> None:
        self.state = state
        self.config = config
        self.lock = threading.RLock()
        self.generator: MarketGenerator = state.generator
        self.keys: dict[str, tuple[str, int]] = {}
        """api key -> (secret, uid)."""
        self.fed_ms: dict[tuple[Category, str], int] = {}
        """Symbols being fed, and the sim time the engine has seen their market up to."""
        self.book_ms: dict[tuple[Category, str], int] = {}
        self.listeners: list[Callable[[list[AccountMessage]], None]] = []
        self._dirty = False
        self.engine = self._load_or_create()
        self._tick_task: asyncio.Task[None] | None = None

    # --- setup --------------------------------------------------------------------------------

    def _new_engine(self) -> MatchingEngine:
        config = EngineConfig(
            latency=LatencyModel(order_ms=self.config.latency_ms),
            queue_model=self.config.queue_model,
            seed=self.state.config.seed,
        )
        engine = MatchingEngine(config)
        now_ms = self.state.now_ms()
        for category in (Category.LINEAR, Category.SPOT):
            for instrument in self.generator.instruments(category, now_ms):
                engine.add_symbol(spec_for(instrument))
        engine.advance_time(now_ms)
        return engine

    def _load_or_create(self) -> MatchingEngine:
        path = self.config.state_file
        uids: dict[str, int] = {}
        engine: MatchingEngine | None = None
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text())
                engine = MatchingEngine.from_state(data["engine"])
                uids = {str(k): int(v) for k, v in data["keys"].items()}
                self.fed_ms = {(Category(c), s): int(ms) for c, s, ms in data["fed"]}
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ConfigError(f"cannot restore the sim's trading state from {path}: {e}") from e
            log.info("sim trading state restored", path=str(path), accounts=len(uids))
        if engine is None:
            engine = self._new_engine()
        for account in self.config.accounts:
            uid = uids.get(account.api_key)
            if uid is None:
                uid = engine.open_account(dict(account.balances))
                self._dirty = True
            self.keys[account.api_key] = (account.api_secret, uid)
        return engine

    def add_account(self, account: ApiAccount) -> int:
        """Create (or fund nothing and reuse) the account of a new API key; return its uid."""
        with self.lock:
            if account.api_key in self.keys:
                return self.keys[account.api_key][1]
            uid = self.engine.open_account(dict(account.balances))
            self.keys[account.api_key] = (account.api_secret, uid)
            self._dirty = True
            return uid

    def reset(self) -> None:
        """Start over at the sim clock: a fresh engine, only the configured accounts, freshly funded.

        For a sim shared between tests (whose clock is reset) or a demo that wants a clean slate.
        """
        with self.lock:
            self.engine.drain_events()
            self.engine = self._new_engine()
            self.keys = {}
            self.fed_ms = {}
            self.book_ms = {}
            for account in self.config.accounts:
                uid = self.engine.open_account(dict(account.balances))
                self.keys[account.api_key] = (account.api_secret, uid)
            self._dirty = True

    def credentials(self, api_key: str) -> tuple[str, int] | None:
        """Return (secret, uid) of a known API key, or None."""
        return self.keys.get(api_key)

    # --- running the engine -------------------------------------------------------------------

    def call(self, work: Callable[[MatchingEngine], T], touch: Iterable[tuple[Category, str]] = ()) -> T:
        """Sync the market (feeding the `touch` symbols from now on), run `work`, publish its events."""
        with self.lock:
            for key in touch:
                self._start_feeding(*key)
            self._sync_locked()
            try:
                return work(self.engine)
            finally:
                self._dirty = True
                self._publish()

    def sync(self) -> None:
        """Bring the engine up to the sim clock and publish what happened."""
        with self.lock:
            self._sync_locked()
            self._publish()

    def _publish(self) -> None:
        events = self.engine.drain_events()
        if not events:
            return
        self._dirty = True
        for listener in list(self.listeners):
            listener(events)

    def _start_feeding(self, category: Category, symbol: str) -> None:
        key = (category, symbol)
        if key in self.fed_ms or not self._listed(category, symbol):
            return
        now_ms = max(self.state.now_ms(), self.engine.now_ms)
        self.engine.advance_time(now_ms)
        Feeder(self.engine, start_sources(self.generator, key, now_ms)).run(now_ms)
        self.fed_ms[key] = self.book_ms[key] = now_ms

    def _listed(self, category: Category, symbol: str) -> bool:
        return any(s.symbol == symbol and s.category is category for s in self.engine.symbols())

    def _sync_locked(self) -> None:
        """Feed every fed symbol's market up to now through the engine's feeder (see `desk_feed`)."""
        now_ms = self.state.now_ms()
        fed = self.fed_ms
        if not fed or all(ms >= now_ms for ms in fed.values()):
            self.engine.advance_time(max(now_ms, self.engine.now_ms))
            return
        keys = sorted(fed)
        books = [k for k in keys if now_ms - self.book_ms.get(k, 0) >= BOOK_REFRESH_MS]
        sources = sync_sources(self.generator, {k: fed[k] for k in keys}, books, now_ms)
        Feeder(self.engine, sources).run(now_ms)
        for key in keys:
            fed[key] = max(fed[key], now_ms)
        for key in books:
            self.book_ms[key] = now_ms

    # --- persistence and the background ticker ------------------------------------------------

    def save(self) -> None:
        """Write the state file atomically (no-op without one or when nothing changed)."""
        path = self.config.state_file
        if path is None:
            return
        with self.lock:
            if not self._dirty:
                return
            data = {
                "engine": self.engine.to_state(),
                "keys": {key: uid for key, (_, uid) in self.keys.items()},
                "fed": [[c.value, s, ms] for (c, s), ms in sorted(self.fed_ms.items())],
            }
            self._dirty = False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")))
        os.replace(tmp, path)

    async def _tick(self) -> None:
        elapsed = 0.0
        while True:
            await asyncio.sleep(self.config.tick_s)
            elapsed += self.config.tick_s
            try:
                await asyncio.to_thread(self.sync)
                if elapsed >= self.config.save_every_s:
                    elapsed = 0.0
                    await asyncio.to_thread(self.save)
            except Exception:  # the ticker must outlive one bad step; the next one retries
                log.exception("sim trading tick failed")

    async def start(self) -> None:
        """Start the background ticker (server startup hook)."""
        if self._tick_task is None and self.config.tick_s > 0:
            self._tick_task = asyncio.create_task(self._tick(), name="bst-sim-trading")

    async def stop(self) -> None:
        """Stop the ticker and save (server shutdown hook)."""
        task, self._tick_task = self._tick_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(self.save)


def install(state: SimState, config: TradingConfig | None = None) -> TradingDesk:
    """Create the desk for `state` (before the server starts) and register its start/stop hooks."""
    existing = state.extras.get(EXTRAS_KEY)
    if isinstance(existing, TradingDesk):
        if config is None:
            return existing
        raise ConfigError("the sim's trading desk is already installed")
    desk = TradingDesk(state, config or TradingConfig())
    state.extras[EXTRAS_KEY] = desk
    state.on_startup.append(desk.start)
    state.on_shutdown.append(desk.stop)
    return desk


def desk_of(state: SimState) -> TradingDesk:
    """Return the state's desk, installing a default one (no accounts) when none was."""
    return install(state)
