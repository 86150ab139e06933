"""The market generator: determinism, exact aggregation across intervals, gaps, seekability, listing."""

from __future__ import annotations

import calendar
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import numpy as np
import pytest

from bst.domain.market import DAY_MS, MINUTE_MS, Bar, Category, Interval
from bst.sim.catalog import utc_ms
from bst.sim.generator import MarketGenerator, UnknownInstrumentError
from bst.sim.pricepath import InstrumentPath

SEED = 424242
GEN = MarketGenerator(seed=SEED)
JAN_2024 = utc_ms("2024-01-01")


def reference_aggregate(minutes: Iterable[Bar], interval: Interval) -> list[Bar]:
    """Aggregate bars the slow, obvious way (Interval.open_time_ms per bar, Decimal sums)."""
    groups: dict[int, list[Bar]] = {}
    for bar in minutes:
        groups.setdefault(interval.open_time_ms(bar.open_time_ms), []).append(bar)
    return [
        Bar(
            open_ms,
            group[0].open,
            max(b.high for b in group),
            min(b.low for b in group),
            group[-1].close,
            sum((b.volume for b in group), Decimal(0)),
            sum((b.turnover for b in group), Decimal(0)),
        )
        for open_ms, group in sorted(groups.items())
    ]


def test_same_seed_gives_identical_bars_in_a_fresh_instance() -> None:
    start, end = utc_ms("2024-03-10"), utc_ms("2024-03-12")
    again = MarketGenerator(seed=SEED)

    first = GEN.bars("ETHUSDT", Interval.M1, start, end)
    second = again.bars("ETHUSDT", Interval.M1, start, end)

    assert len(first) == 2 * 1440 + 1
    assert first == second


def test_another_seed_gives_another_market() -> None:
    start = utc_ms("2024-03-10")
    other = MarketGenerator(seed=SEED + 1)

    assert GEN.bars("BTCUSDT", Interval.H1, start, start + DAY_MS) != other.bars(
        "BTCUSDT", Interval.H1, start, start + DAY_MS
    )


@pytest.mark.parametrize(
    ("interval", "start", "end"),
    [
        (Interval.M3, "2024-05-06T01:00", "2024-05-06T09:00"),
        (Interval.M5, "2024-05-06T01:00", "2024-05-06T09:00"),
        (Interval.M15, "2024-05-06", "2024-05-07"),
        (Interval.H1, "2024-05-06", "2024-05-08"),
        (Interval.H4, "2024-05-06", "2024-05-10"),
        (Interval.D1, "2024-04-29", "2024-05-03"),
        (Interval.W1, "2024-04-29", "2024-05-20"),
    ],
)
@pytest.mark.parametrize(("category", "symbol"), [(Category.LINEAR, "BTCUSDT"), (Category.INVERSE, "BTCUSD")])
def test_higher_interval_bars_are_exact_aggregates_of_their_minutes(
    interval: Interval, start: str, end: str, category: Category, symbol: str
) -> None:
    start_ms, end_ms = utc_ms(start), utc_ms(end)
    minutes = GEN.bars(symbol, Interval.M1, start_ms, end_ms - 1, category=category)

    bars = GEN.bars(symbol, interval, start_ms, end_ms - 1, category=category)

    assert bars == reference_aggregate(minutes, interval)
    assert len(bars) >= 3


@pytest.mark.parametrize("interval", [Interval.W1, Interval.MN1])
def test_weekly_and_monthly_bars_are_exact_aggregates_of_daily_bars(interval: Interval) -> None:
    start_ms, end_ms = utc_ms("2023-10-01"), utc_ms("2024-06-01")
    days = GEN.bars("ETHUSDT", Interval.D1, start_ms - 31 * DAY_MS, end_ms + 31 * DAY_MS)

    bars = GEN.bars("ETHUSDT", interval, start_ms, end_ms)

    expected = [b for b in reference_aggregate(days, interval) if start_ms <= b.open_time_ms <= end_ms]
    assert bars == expected
    assert len(bars) >= 8


def test_a_monthly_bar_is_the_exact_aggregate_of_its_minutes() -> None:
    start_ms, end_ms = utc_ms("2024-02-01"), utc_ms("2024-03-01") - 1
    minutes = GEN.bar_columns("BTCUSDT", Interval.M1, start_ms, end_ms, category=Category.SPOT)

    (month,) = GEN.bar_columns("BTCUSDT", Interval.MN1, start_ms, start_ms, category=Category.SPOT).to_bars()

    price, qty, turnover = GEN.scales(Category.SPOT, "BTCUSDT")
    assert month.open_time_ms == start_ms
    assert month.open == price.plain_decimal(int(minutes.open[0]))
    assert month.high == price.plain_decimal(int(minutes.high.max()))
    assert month.low == price.plain_decimal(int(minutes.low.min()))
    assert month.close == price.plain_decimal(int(minutes.close[-1]))
    assert month.volume == qty.plain_decimal(sum(minutes.volume.tolist()))
    assert month.turnover == turnover.plain_decimal(sum(minutes.turnover.tolist()))


def test_weekly_bars_open_on_monday_and_monthly_on_the_first() -> None:
    weeks = GEN.bars("SOLUSDT", Interval.W1, utc_ms("2024-01-01"), utc_ms("2024-03-01"))
    months = GEN.bars("SOLUSDT", Interval.MN1, utc_ms("2023-11-15"), utc_ms("2024-03-01"))

    assert [calendar.weekday(*_ymd(b.open_time_ms)) for b in weeks] == [0] * len(weeks)
    assert [_ymd(b.open_time_ms) for b in months] == [(2023, 12, 1), (2024, 1, 1), (2024, 2, 1), (2024, 3, 1)]


def _ymd(ms: int) -> tuple[int, int, int]:
    import time

    t = time.gmtime(ms // 1000)
    return t.tm_year, t.tm_mon, t.tm_mday


def test_consecutive_minutes_chain_open_to_previous_close_and_prices_sit_on_the_tick_grid() -> None:
    cols = GEN.bar_columns("BTCUSDT", Interval.M1, utc_ms("2024-02-01"), utc_ms("2024-02-03"))
    contiguous = np.diff(cols.open_time_ms) == MINUTE_MS

    assert np.array_equal(cols.open[1:][contiguous], cols.close[:-1][contiguous])
    assert (cols.high >= np.maximum(cols.open, cols.close)).all()
    assert (cols.low <= np.minimum(cols.open, cols.close)).all()
    assert (cols.volume > 0).all()
    assert all(b.close % Decimal("0.10") == 0 for b in cols.to_bars())


def test_missing_minutes_are_exactly_the_absent_bars() -> None:
    start, end = JAN_2024, utc_ms("2024-04-01") - 1
    minutes = GEN.bar_columns("BTCUSDT", Interval.M1, start, end)
    expected = np.arange(start, end + 1, MINUTE_MS, dtype=np.int64)

    missing = GEN.missing_minutes("BTCUSDT", start, end)

    assert missing.size > 0
    assert np.array_equal(np.sort(np.concatenate([minutes.open_time_ms, missing])), expected)
    assert np.intersect1d(minutes.open_time_ms, missing).size == 0


def test_gap_minutes_are_left_out_of_higher_interval_bars() -> None:
    begin, end = GEN.maintenance_windows(JAN_2024, utc_ms("2024-07-01"))[0]
    hour = Interval.H1.open_time_ms(begin)
    minutes = GEN.bars("BTCUSDT", Interval.M1, hour, hour + 3_599_999)
    kept = [b.open_time_ms for b in minutes]

    (bar,) = GEN.bars("BTCUSDT", Interval.H1, hour, hour)

    assert begin not in kept
    assert all(not begin <= t < end for t in kept)
    assert bar == reference_aggregate(minutes, Interval.H1)[0]


def test_spot_has_its_own_maintenance_schedule_and_gaps_can_be_turned_off() -> None:
    window = (JAN_2024, utc_ms("2025-01-01"))
    no_gaps = MarketGenerator(seed=SEED, gaps=False)

    assert GEN.maintenance_windows(*window, category=Category.SPOT) != GEN.maintenance_windows(*window)
    assert no_gaps.missing_minutes("BTCUSDT", *window).size == 0
    assert len(no_gaps.bar_columns("BTCUSDT", Interval.M1, JAN_2024, JAN_2024 + 7 * DAY_MS - 1)) == 7 * 1440


def test_a_day_is_computed_alone_without_the_history_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = MarketGenerator(seed=SEED)
    drawn: list[int] = []
    original = InstrumentPath._draw

    def counting(self: InstrumentPath, day: int) -> object:
        drawn.append(day)
        return original(self, day)

    monkeypatch.setattr(InstrumentPath, "_draw", counting)
    day_start = utc_ms("2025-02-03")

    bars = fresh.bars("ETHUSDT", Interval.M1, day_start, day_start + DAY_MS - 1)

    assert drawn == [day_start // DAY_MS]
    assert bars == GEN.bars("ETHUSDT", Interval.M1, day_start, day_start + DAY_MS - 1)


def test_a_day_asked_for_by_many_threads_at_once_is_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    path = MarketGenerator(seed=SEED).path(Category.LINEAR, "BTCUSDT")
    day = utc_ms("2024-03-05") // DAY_MS
    threads = 8
    started = threading.Semaphore(0)
    all_started = threading.Event()
    drawn: list[int] = []
    original = InstrumentPath._draw

    def counting(self: InstrumentPath, drawn_day: int) -> object:
        drawn.append(drawn_day)
        all_started.wait(timeout=30)  # the others ask while this computation is under way
        return original(self, drawn_day)

    monkeypatch.setattr(InstrumentPath, "_draw", counting)

    def ask() -> object:
        started.release()
        return path.day(day)

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(ask) for _ in range(threads)]
        for _ in range(threads):
            started.acquire(timeout=30)
        all_started.set()
        results = [f.result(timeout=60) for f in futures]

    assert drawn == [day]
    assert all(r is results[0] for r in results)
    assert np.array_equal(results[0].close, GEN.path(Category.LINEAR, "BTCUSDT").block(day, 1).close)


def test_a_failed_day_computation_is_not_cached_and_reaches_every_waiter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = MarketGenerator(seed=SEED).path(Category.SPOT, "ETHUSDT")
    day = utc_ms("2024-03-06") // DAY_MS

    def failing(self: InstrumentPath, drawn_day: int) -> object:
        raise RuntimeError("draw failed")

    with monkeypatch.context() as patch:
        patch.setattr(InstrumentPath, "_draw", failing)
        with pytest.raises(RuntimeError, match="draw failed"):
            path.day(day)

    assert np.array_equal(path.day(day).close, GEN.path(Category.SPOT, "ETHUSDT").block(day, 1).close)


def test_a_day_alone_equals_the_same_day_inside_a_block() -> None:
    path = GEN.path(Category.LINEAR, "SOLUSDT")
    first = utc_ms("2024-06-10") // DAY_MS
    block = path.block(first, 5)

    for offset in range(5):
        alone = path.block(first + offset, 1)
        rows = slice(offset * 1440, (offset + 1) * 1440)
        for field in ("open", "high", "low", "close", "volume", "turnover", "trade_price", "trade_size"):
            assert np.array_equal(getattr(block, field)[rows], getattr(alone, field)), field


def test_no_bars_before_the_listing_and_the_first_bar_is_the_listing_minute() -> None:
    launch = utc_ms("2020-03-26")

    assert GEN.bars("BTCUSDT", Interval.D1, utc_ms("2019-01-01"), launch - 1) == []
    first = GEN.bars("BTCUSDT", Interval.M1, utc_ms("2019-01-01"), launch + 5 * MINUTE_MS)
    assert first[0].open_time_ms == launch
    assert GEN.instrument(Category.LINEAR, "BTCUSDT").launch_time_ms == launch


def test_the_live_bar_holds_only_the_trades_printed_so_far() -> None:
    minute = utc_ms("2024-06-01T12:00")
    now = minute + 30_500
    trades = GEN.trade_columns("BTCUSDT", minute, now)

    (bar,) = GEN.bars("BTCUSDT", Interval.M1, minute, minute, now_ms=now)
    (full,) = GEN.bars("BTCUSDT", Interval.M1, minute, minute)
    (hour,) = GEN.bars("BTCUSDT", Interval.H1, minute, minute, now_ms=now)

    price, qty, turnover = GEN.scales(Category.LINEAR, "BTCUSDT")
    assert 0 < len(trades) < GEN.path(Category.LINEAR, "BTCUSDT").spec.trades_per_minute
    assert bar.open == full.open == price.plain_decimal(int(trades.price[0]))
    assert bar.close == price.plain_decimal(int(trades.price[-1]))
    assert bar.high == price.plain_decimal(int(trades.price.max()))
    assert bar.volume == qty.plain_decimal(int(trades.size.sum()))
    assert bar.turnover == turnover.plain_decimal(int(trades.turnover.sum()))
    assert bar.volume < full.volume
    assert hour.close == bar.close
    assert GEN.bars("BTCUSDT", Interval.M1, minute + MINUTE_MS, minute + DAY_MS, now_ms=now) == []


@pytest.mark.parametrize(("category", "symbol"), [(Category.LINEAR, "ETHUSDT"), (Category.INVERSE, "BTCUSD")])
def test_trades_of_each_minute_add_up_exactly_to_its_bar(category: Category, symbol: str) -> None:
    start = utc_ms("2024-08-20T10:00")
    cols = GEN.bar_columns(symbol, Interval.M1, start, start + 59 * MINUTE_MS, category=category)
    trades = GEN.trade_columns(symbol, start, start + 3_600_000 - 1, category=category)
    minute_of = trades.ts_ms - trades.ts_ms % MINUTE_MS
    starts = np.flatnonzero(np.concatenate(([True], minute_of[1:] != minute_of[:-1])))

    assert np.array_equal(minute_of[starts], cols.open_time_ms)
    assert np.array_equal(trades.price[starts], cols.open)
    assert np.array_equal(np.maximum.reduceat(trades.price, starts), cols.high)
    assert np.array_equal(np.minimum.reduceat(trades.price, starts), cols.low)
    assert np.array_equal(np.add.reduceat(trades.size, starts), cols.volume)
    assert np.array_equal(np.add.reduceat(trades.turnover, starts), cols.turnover)
    assert (np.diff(trades.ts_ms) > 0).all()
    assert (np.diff(trades.seq) > 0).all()


def test_last_price_is_the_last_trade_and_stays_put_through_a_maintenance_window() -> None:
    begin, end = GEN.maintenance_windows(JAN_2024, utc_ms("2024-07-01"))[0]
    before = GEN.trade_columns("BTCUSDT", begin - MINUTE_MS, begin - 1)

    inside = GEN.last_trade("BTCUSDT", begin + (end - begin) // 2)

    assert inside.ts_ms == int(before.ts_ms[-1])
    assert inside.price_ticks == int(before.price[-1])
    assert GEN.last_price("BTCUSDT", begin + 1000) == Decimal(int(before.price[-1])) * Decimal("0.10")
    with pytest.raises(ValueError, match="not listed"):
        GEN.last_trade("SOLUSDT", utc_ms("2021-01-01"))


def test_recent_trades_end_at_now_newest_last() -> None:
    now = utc_ms("2024-06-01T12:00") + 30_500

    trades = GEN.recent_trades("BTCUSDT", now, 100)

    assert len(trades) == 100
    assert trades[-1].ts_ms <= now
    assert [t.ts_ms for t in trades] == sorted(t.ts_ms for t in trades)
    assert trades[-1].price == GEN.last_price("BTCUSDT", now)
    assert len({t.trade_id for t in trades}) == 100


def test_book_brackets_the_last_trade_and_is_deterministic() -> None:
    now = utc_ms("2024-06-01T12:00") + 30_500
    last = GEN.last_price("BTCUSDT", now)

    book = GEN.book_snapshot("BTCUSDT", now, 50)
    again = MarketGenerator(seed=SEED).book_snapshot("BTCUSDT", now, 50)

    assert book == again
    assert len(book.bids) == len(book.asks) == 50
    assert book.bids[0][0] < book.asks[0][0]
    assert book.bids[0][0] <= last <= book.asks[0][0]
    assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)
    assert [p for p, _ in book.asks] == sorted(p for p, _ in book.asks)
    assert all(q > 0 for _, q in book.bids + book.asks)


def test_book_levels_keep_their_size_while_the_price_moves_within_a_refresh() -> None:
    now = utc_ms("2024-06-01T12:00") + 30_500
    earlier = GEN.book_snapshot("BTCUSDT", now - 200, 200)
    later = GEN.book_snapshot("BTCUSDT", now, 200)
    before, after = dict(earlier.bids + earlier.asks), dict(later.bids + later.asks)

    shared = set(before) & set(after)
    changed = [p for p in shared if before[p] != after[p]]

    assert len(shared) > 300
    assert len(changed) < len(shared) // 5


def test_unknown_symbols_are_reported() -> None:
    with pytest.raises(UnknownInstrumentError):
        GEN.bars("NOPEUSDT", Interval.M1, JAN_2024, JAN_2024)
    assert not GEN.has_instrument(Category.SPOT, "BTCUSD")


def test_catalog_has_the_main_symbols_with_bybit_rules() -> None:
    linear = {i.symbol: i for i in GEN.instruments(Category.LINEAR)}
    spot = {i.symbol: i for i in GEN.instruments(Category.SPOT)}
    inverse = {i.symbol: i for i in GEN.instruments(Category.INVERSE)}

    assert {"BTCUSDT", "ETHUSDT", "SOLUSDT"} <= set(linear) & set(spot)
    assert linear["BTCUSDT"].tick_size == Decimal("0.10")
    assert linear["BTCUSDT"].qty_step == Decimal("0.001")
    assert spot["BTCUSDT"].qty_step == Decimal("0.000001")
    assert inverse["BTCUSD"].settle_coin == "BTC"
    assert inverse["BTCUSD"].contract_type == "InversePerpetual"
    assert GEN.instruments(Category.LINEAR, now_ms=utc_ms("2021-01-01")) == [
        linear["BTCUSDT"],
        linear["ETHUSDT"],
    ]


@pytest.mark.parametrize(
    ("symbol", "day", "low", "high"),
    [
        ("BTCUSDT", "2021-04-14", 40_000, 90_000),
        ("BTCUSDT", "2022-11-21", 10_000, 25_000),
        ("ETHUSDT", "2024-03-12", 2500, 6000),
    ],
)
def test_price_levels_follow_the_real_history_roughly(symbol: str, day: str, low: int, high: int) -> None:
    (bar,) = GEN.bars(symbol, Interval.D1, utc_ms(day), utc_ms(day))

    assert low < bar.close < high
