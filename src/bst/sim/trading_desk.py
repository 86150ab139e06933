"""The simulator's trading side: API keys to accounts, the matching engine fed from the generator.

`install(state, TradingConfig(...))` before the server starts puts a `TradingDesk` in
`state.extras["trading"]`; the trading routes find it there. Each API key is its own account,
funded at creation. The engine sees the generator's market for every symbol someone trades, as the
domain market events `bst.sim.desk_feed` builds (the public trades since it last looked, which fill
resting orders; tickers with the mark price and the period's funding rate; a fresh book snapshot),
merged in time order by the engine's `Feeder`; a market step brings it up to the sim clock before
every private request and from a background ticker, so fills arrive without polling.

Acknowledged means durable. With a state file, every state-changing input (a market step to a new
sim time, an account's command, an account opened, a reset) is a `DeskRecord` appended to a
write-ahead journal before the desk acts on it, and a reply or a private-stream push waits until
the journal holds everything it reflects on disk (`durable`, group commit: concurrent requests
share one sync). A restart loads the last snapshot and replays the journal after it through the
same `_apply` the live request took; the market feed is a pure function of the sim times it is
stepped to, so the replay ends in exactly the state clients were told about. Every start begins a
new id epoch (see `bst.engine.ids`), so no orderId or execId is handed out twice. Without a state
file nothing is journaled and replies are immediate.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import orjson
import structlog

from bst.domain.errors import BybitAPIError, ConfigError
from bst.domain.market import Category
from bst.engine import AccountMessage, EngineConfig, Feeder, LatencyModel, MatchingEngine, SymbolSpec
from bst.engine.core import FIRST_UID
from bst.sim.desk_feed import BOOK_REFRESH_MS, start_sources, sync_sources
from bst.sim.desk_store import SNAPSHOT_FORMAT, DeskStore
from bst.sim.generator import MarketGenerator
from bst.sim.journal import Journal
from bst.sim.state import SimState
from bst.sim.trading_commands import (
    Balances,
    Command,
    DeskRecord,
    Execute,
    FeedKey,
    OpenAccount,
    Reset,
    Step,
    record_from_json,
    record_to_json,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")
JSON = dict[str, Any]

EXTRAS_KEY = "trading"
COMPACT_AFTER_RECORDS = 20_000
"""Write a snapshot (and drop the journal it covers) after this many records, whatever the time."""
_MAJORS = ("BTC", "ETH")


@dataclass(frozen=True, slots=True)
class ApiAccount:
    """One API key pair and the account it trades for, funded with `balances` when first created."""

    api_key: str
    api_secret: str
    balances: Mapping[str, Decimal] = field(default_factory=lambda: {"USDT": Decimal(100_000)})

    def __repr__(self) -> str:
        return f"ApiAccount(api_key={self.api_key!r}, api_secret='***', balances={dict(self.balances)!r})"


@dataclass(frozen=True, slots=True)
class TradingConfig:
    """How the sim trades: its accounts, persistence, and the engine's latency/queue models.

    With `state_file`, a snapshot is written every `save_every_s` (or after `COMPACT_AFTER_RECORDS`
    journal records) and on stop; between snapshots the journal keeps every change durable.
    """

    accounts: tuple[ApiAccount, ...] = ()
    state_file: Path | None = None
    latency_ms: int = 0
    queue_model: bool = True
    tick_s: float = 0.25
    save_every_s: float = 30.0


def spec_for(instrument: Any) -> SymbolSpec:
    """Return the engine spec of a generator instrument, with Bybit-like tier-1 risk parameters."""
    major = instrument.base_coin in _MAJORS
    return SymbolSpec(
        instrument,
        maintenance_margin_rate=Decimal("0.005") if major else Decimal("0.01"),
        market_slippage_ratio=Decimal("0.01") if major else Decimal("0.05"),
    )


def _balances(account: ApiAccount) -> Balances:
    return tuple(account.balances.items())


def _keys_json(keys: Iterable[FeedKey]) -> list[list[str]]:
    return [[category.value, symbol] for category, symbol in sorted(keys)]


def _times_json(times: Mapping[FeedKey, int]) -> list[list[Any]]:
    return [[c.value, s, ms] for (c, s), ms in sorted(times.items())]


def _times_of(rows: Iterable[list[Any]]) -> dict[FeedKey, int]:
    return {(Category(c), str(s)): int(ms) for c, s, ms in rows}


class TradingDesk:
    """Accounts, keys and the engine, fed lazily from the generator; thread-safe."""

    def __init__(self, state: SimState, config: TradingConfig) -> None:
        self.state = state
        self.config = config
        self.lock = threading.RLock()
        self.generator: MarketGenerator = state.generator
        self.keys: dict[str, tuple[str, int]] = {}
        """api key -> (secret, uid) of the keys that can sign in."""
        self.uids: dict[str, int] = {}
        """api key -> uid of every account (a restored key has no secret until configured again)."""
        self.fed_ms: dict[FeedKey, int] = {}
        """Symbols being fed, and the sim time the engine has seen their market up to."""
        self.book_ms: dict[FeedKey, int] = {}
        self.listeners: list[Callable[[list[AccountMessage]], None]] = []
        self._secrets = {a.api_key: a.api_secret for a in config.accounts}
        self._stepped_ms: int | None = None
        """The sim time of the last market step (a step to the same time with nothing new is skipped)."""
        self._touched: set[FeedKey] = set()
        """Every symbol a step was asked to feed since the engine was created."""
        self._store = DeskStore(config.state_file) if config.state_file is not None else None
        self._journal: Journal | None = None
        self._snapshot_lsn = 0
        self._checkpoint_lock = threading.Lock()
        self._tick_task: asyncio.Task[None] | None = None
        self.engine = self._new_engine(state.now_ms(), config.latency_ms, config.queue_model)
        if self._store is None:
            for account in config.accounts:
                self._apply(OpenAccount(account.api_key, self._next_uid(), _balances(account)))
        else:
            self._recover(self._store)

    # --- setup --------------------------------------------------------------------------------

    def _new_engine(self, now_ms: int, latency_ms: int, queue_model: bool) -> MatchingEngine:
        config = EngineConfig(
            latency=LatencyModel(order_ms=latency_ms),
            queue_model=queue_model,
            seed=self.state.config.seed,
        )
        engine = MatchingEngine(config)
        for category in (Category.LINEAR, Category.SPOT):
            for instrument in self.generator.instruments(category, now_ms):
                engine.add_symbol(spec_for(instrument))
        engine.advance_time(now_ms)
        return engine

    def _next_uid(self) -> int:
        return max(self.engine.accounts(), default=FIRST_UID - 1) + 1

    def add_account(self, account: ApiAccount) -> int:
        """Create (or fund nothing and reuse) the account of a new API key; return its uid."""
        with self.lock:
            self._secrets[account.api_key] = account.api_secret
            uid = self.uids.get(account.api_key)
            if uid is not None:
                self.keys[account.api_key] = (account.api_secret, uid)
                return uid
            lsn = self._run(OpenAccount(account.api_key, self._next_uid(), _balances(account)))[1]
        self.wait_durable(lsn)
        return self.uids[account.api_key]

    def reset(self) -> None:
        """Start over at the sim clock: a fresh engine, only the configured accounts, freshly funded.

        For a sim shared between tests (whose clock is reset) or a demo that wants a clean slate.
        """
        with self.lock:
            accounts = tuple((a.api_key, _balances(a)) for a in self.config.accounts)
            record = Reset(self.state.now_ms(), accounts, self.config.latency_ms, self.config.queue_model)
            lsn = self._run(record)[1]
        self.wait_durable(lsn)

    def credentials(self, api_key: str) -> tuple[str, int] | None:
        """Return (secret, uid) of a known API key, or None."""
        return self.keys.get(api_key)

    # --- running the engine -------------------------------------------------------------------

    def execute(self, uid: int, command: Command, touch: Iterable[FeedKey] = ()) -> tuple[JSON, int]:
        """Step the market to now (feeding `touch`), run one account's command, publish its events.

        Returns the command's result and the journal position to wait for (`durable`) before
        replying; the engine's refusals raise, and the caller waits for `durable()` all the same.
        """
        with self.lock:
            record = Execute(self.state.now_ms(), uid, command, self._listed_of(touch))
            result, lsn = self._run(record)
            assert result is not None
            return result, lsn

    def query(self, look: Callable[[MatchingEngine], T], touch: Iterable[FeedKey] = ()) -> tuple[T, int]:
        """Step the market to now (feeding `touch`), then read with `look` (which must not change state).

        Returns what `look` returned and the journal position to wait for before replying.
        """
        with self.lock:
            lsn = self._step_now(self._listed_of(touch))
            return look(self.engine), lsn

    def sync(self) -> int:
        """Bring the engine up to the sim clock and publish what happened; return the journal position."""
        with self.lock:
            return self._step_now(())

    async def durable(self, lsn: int | None = None) -> None:
        """Wait until the journal holds `lsn` (default: everything so far) on disk; no-op without one.

        Raises BybitServerError (10016) when the journal failed: nothing more can be promised.
        """
        journal = self._journal
        if journal is not None:
            await journal.synced(lsn)

    @property
    def journal(self) -> Journal | None:
        """Return the write-ahead journal (None without a state file)."""
        return self._journal

    def wait_durable(self, lsn: int | None = None) -> None:
        """Block until the journal holds `lsn` (default: everything so far) on disk; for threads."""
        journal = self._journal
        if journal is not None:
            journal.wait(lsn)

    def _listed_of(self, touch: Iterable[FeedKey]) -> tuple[FeedKey, ...]:
        """Return the symbols of `touch` the engine lists (others can never be fed: not journaled)."""
        return tuple(key for key in touch if self._listed(*key))

    def _step_now(self, feed: tuple[FeedKey, ...]) -> int:
        """Step to the sim clock, journaling the step only when it changes something."""
        record = Step(self.state.now_ms(), feed)
        if self._step_is_noop(record.now_ms, feed):
            return self._journal.last_lsn if self._journal is not None else 0
        return self._run(record)[1]

    def _run(self, record: DeskRecord) -> tuple[JSON | None, int]:
        """Journal `record`, then act on it and publish its events (after it is durable)."""
        lsn = 0
        journal = self._journal
        if journal is not None:
            lsn = journal.append(orjson.dumps(record_to_json(record)))
        try:
            return self._apply(record), lsn
        finally:
            self._publish()

    def _apply(self, record: DeskRecord) -> JSON | None:
        """Act on one record: the only way state changes, live and in replay alike."""
        if isinstance(record, Step):
            self._step(record.now_ms, record.feed)
        elif isinstance(record, Execute):
            self._step(record.now_ms, record.feed)
            return record.command.apply(self.engine, record.uid)
        elif isinstance(record, OpenAccount):
            uid = self.engine.open_account(dict(record.balances), uid=record.uid)
            self.uids[record.api_key] = uid
            secret = self._secrets.get(record.api_key)
            if secret is not None:
                self.keys[record.api_key] = (secret, uid)
        else:
            self._reset(record)
        return None

    def _reset(self, record: Reset) -> None:
        old = self.engine
        self.engine = self._new_engine(record.now_ms, record.latency_ms, record.queue_model)
        if self._store is not None:  # a persistent sim never hands out an id twice, reset or not
            self.engine.resume_ids(*old.id_position)
        self.keys, self.uids = {}, {}
        self.fed_ms, self.book_ms = {}, {}
        self._stepped_ms, self._touched = None, set()
        for api_key, balances in record.accounts:
            self._apply(OpenAccount(api_key, self._next_uid(), balances))

    def _step_is_noop(self, now_ms: int, feed: Iterable[FeedKey]) -> bool:
        return now_ms == self._stepped_ms and self._touched.issuperset(feed)

    def _step(self, now_ms: int, feed: tuple[FeedKey, ...]) -> None:
        """Start feeding `feed`, then bring the engine's market to `now_ms` (skipped when a no-op)."""
        if self._step_is_noop(now_ms, feed):
            return
        for category, symbol in feed:
            self._start_feeding(category, symbol, now_ms)
        self._sync_locked(now_ms)
        self._stepped_ms = now_ms
        self._touched.update(feed)

    def _publish(self) -> None:
        events = self.engine.drain_events()
        if not events:
            return
        journal = self._journal
        if journal is None:
            self._deliver(events)
        else:  # a push is a promise too: only once what it reports is on disk
            journal.when_durable(journal.last_lsn, partial(self._deliver, events))

    def _deliver(self, events: list[AccountMessage]) -> None:
        for listener in list(self.listeners):
            listener(events)

    # --- the market feed ----------------------------------------------------------------------

    def _start_feeding(self, category: Category, symbol: str, now_ms: int) -> None:
        key = (category, symbol)
        if key in self.fed_ms or not self._listed(category, symbol):
            return
        now_ms = max(now_ms, self.engine.now_ms)
        self.engine.advance_time(now_ms)
        Feeder(self.engine, start_sources(self.generator, key, now_ms)).run(now_ms)
        self.fed_ms[key] = self.book_ms[key] = now_ms

    def _listed(self, category: Category, symbol: str) -> bool:
        return any(s.symbol == symbol and s.category is category for s in self.engine.symbols())

    def _sync_locked(self, now_ms: int) -> None:
        """Feed every fed symbol's market up to `now_ms` through the engine's feeder (see `desk_feed`)."""
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

    # --- persistence ----------------------------------------------------------------------------

    def _snapshot(self, lsn: int) -> bytes:
        """Return the whole desk as JSON, including the journal up to `lsn` (call under the lock)."""
        data = {
            "format": SNAPSHOT_FORMAT,
            "journal_lsn": lsn,
            "market": {"seed": self.generator.seed, "gaps": self.generator.gaps},
            "engine": self.engine.to_state(),
            "keys": dict(self.uids),
            "fed": _times_json(self.fed_ms),
            "book": _times_json(self.book_ms),
            "stepped_ms": self._stepped_ms,
            "touched": _keys_json(self._touched),
        }
        return orjson.dumps(data)

    def _restore(self, data: JSON, path: Path) -> int:
        """Load a snapshot into the desk; return the journal LSN it includes."""
        market = data.get("market", {})
        seed, gaps = market.get("seed", self.generator.seed), market.get("gaps", self.generator.gaps)
        if (seed, gaps) != (self.generator.seed, self.generator.gaps):
            raise ConfigError(
                f"the state file {path} belongs to a sim with --seed {seed}"
                f"{'' if gaps else ' --no-gaps'}: start with the same market options, or use another file"
            )
        try:
            self.engine = MatchingEngine.from_state(data["engine"])
            self.uids = {str(k): int(v) for k, v in data["keys"].items()}
            self.fed_ms = _times_of(data["fed"])
            self.book_ms = _times_of(data.get("book", []))
            stepped = data.get("stepped_ms")
            self._stepped_ms = None if stepped is None else int(stepped)
            self._touched = {(Category(c), str(s)) for c, s in data.get("touched", [])}
            return int(data.get("journal_lsn", 0))
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"cannot restore the sim's trading state from {path}: {e}") from e

    def _recover(self, store: DeskStore) -> None:
        """Load the snapshot, replay the journal after it, start a new id epoch, open the journal."""
        snapshot = store.read_snapshot()
        lsn = self._restore(snapshot, store.path) if snapshot is not None else 0
        contents = store.read_journal(lsn)
        if snapshot is None and contents.records:
            raise ConfigError(
                f"the sim's journal next to {store.path} has no snapshot to start from: restore "
                f"{store.path.name}, or delete the {store.journal_prefix.name}* files to start afresh"
            )
        for number, payload in contents.records:
            try:
                record = record_from_json(orjson.loads(payload))
            except (ValueError, KeyError, TypeError) as e:
                raise ConfigError(f"record {number} of the sim's journal cannot be read: {e}") from e
            try:
                self._apply(record)
            except BybitAPIError:
                pass  # a request refused live is refused again, with the same (lack of) effect
            except Exception:  # failed live the same way (the engine is deterministic); go on
                log.exception("a replayed sim journal record failed", record=number)
            self.engine.drain_events()  # clients had these (or read them back over REST)
        if contents.torn is not None:
            segment, offset, size = contents.torn
            log.warning("sim journal ends in a torn record", segment=str(segment), offset=offset, bytes=size)
        lsn = contents.last_lsn or lsn
        epoch, counter = self.engine.id_position
        self.engine.resume_ids(store.next_epoch(epoch), counter)
        for account in self.config.accounts:
            if account.api_key in self.uids:
                self.keys[account.api_key] = (account.api_secret, self.uids[account.api_key])
            else:
                self._apply(OpenAccount(account.api_key, self._next_uid(), _balances(account)))
        self._journal = store.start(self._snapshot(lsn), lsn)
        self._snapshot_lsn = lsn
        if snapshot is not None:
            log.info("sim trading state restored", path=str(store.path), replayed=len(contents.records))

    def save(self) -> None:
        """Write a snapshot and drop the journal it covers (no-op without a state file or changes)."""
        store, journal = self._store, self._journal
        if store is None or journal is None:
            return
        with self._checkpoint_lock:
            with self.lock:
                lsn = journal.last_lsn
                if lsn == self._snapshot_lsn:
                    return
                data = self._snapshot(lsn)
                journal.rotate()
            store.compact(data, lsn)
            self._snapshot_lsn = lsn

    def close(self) -> None:
        """Sync the journal, write the final snapshot, drop the journal (a clean stop).

        Requests after this are refused (10016) until `start` opens the journal again.
        """
        store, journal = self._store, self._journal
        if store is None or journal is None or journal.closed:
            return
        with self._checkpoint_lock, self.lock:
            journal.close()
            lsn = journal.last_lsn
            store.write_snapshot(self._snapshot(lsn))
            self._snapshot_lsn = lsn
            store.remove_journal()

    def _reopen(self) -> None:
        """Open the journal again after `close` (a stopped server started again)."""
        store, journal = self._store, self._journal
        if store is not None and journal is not None and journal.closed:
            with self.lock:
                self._journal = store.start(self._snapshot(self._snapshot_lsn), self._snapshot_lsn)

    # --- the background ticker ----------------------------------------------------------------

    def _due_for_snapshot(self) -> bool:
        journal = self._journal
        return journal is not None and journal.last_lsn - self._snapshot_lsn >= COMPACT_AFTER_RECORDS

    async def _tick(self) -> None:
        elapsed = 0.0
        while True:
            await asyncio.sleep(self.config.tick_s)
            elapsed += self.config.tick_s
            try:
                await asyncio.to_thread(self.sync)
                if elapsed >= self.config.save_every_s or self._due_for_snapshot():
                    elapsed = 0.0
                    await asyncio.to_thread(self.save)
            except Exception:  # the ticker must outlive one bad step; the next one retries
                log.exception("sim trading tick failed")

    async def start(self) -> None:
        """Start the background ticker (server startup hook)."""
        await asyncio.to_thread(self._reopen)
        if self._tick_task is None and self.config.tick_s > 0:
            self._tick_task = asyncio.create_task(self._tick(), name="bst-sim-trading")

    async def stop(self) -> None:
        """Stop the ticker, then sync and snapshot (server shutdown hook)."""
        task, self._tick_task = self._tick_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(self.close)


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
