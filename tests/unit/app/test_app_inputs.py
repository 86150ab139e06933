"""Parsers of typed-in text: times, durations, symbol lists, orders, downloads, sim options."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bst.app.downloads import parse_download
from bst.app.inputs import parse_duration, parse_intervals, parse_symbols, parse_time
from bst.app.orders import parse_amend, parse_order, parse_time_in_force
from bst.app.simulator import SimOptions, parse_ip_limit, plan_sim
from bst.domain.errors import ConfigError, InvalidNumberError
from bst.domain.market import Category, Interval, Side
from bst.domain.orders import OrderType, TimeInForce

DAY_MS = 86_400_000


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)))
def test_parse_time_reads_iso_times_as_utc(moment: datetime) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    expected = int(moment.replace(tzinfo=UTC).timestamp() * 1000)
    assert parse_time(moment.isoformat()) == expected
    assert parse_time(moment.replace(tzinfo=UTC).isoformat()) == expected
    assert parse_time(str(expected)) == expected


def test_parse_time_honours_an_offset_and_names_the_argument() -> None:
    assert parse_time("2024-06-01T02:00+02:00") == parse_time("2024-06-01") == 1_717_200_000_000
    with pytest.raises(ConfigError, match=r"^invalid --since 'someday': use YYYY-MM-DD"):
        parse_time("someday", "--since")


@given(
    st.integers(0, 48),
    st.integers(0, 59),
    st.integers(0, 59),
    st.integers(0, 999),
)
def test_parse_duration_adds_up_its_parts(hours: int, minutes: int, seconds: int, millis: int) -> None:
    text = f"{hours}h{minutes}m{seconds}s{millis}ms"
    expected = hours * 3600 + minutes * 60 + seconds + millis / 1000
    assert parse_duration(text) == pytest.approx(expected)
    assert parse_duration(f" {hours}h {minutes}m ") == pytest.approx(hours * 3600 + minutes * 60)


@pytest.mark.parametrize("bad", ["", "ten minutes", "5x", "h", "1h-5m"])
def test_parse_duration_refuses_anything_else(bad: str) -> None:
    with pytest.raises(ConfigError, match="invalid duration"):
        parse_duration(bad)


def test_symbol_and_interval_lists_are_normalised_once_and_deduplicated() -> None:
    assert parse_symbols(["btcusdt", " ETHUSDT", "", "BTCUSDT"]) == ("BTCUSDT", "ETHUSDT")
    assert parse_intervals(["60", "1h", "D", "d"]) == (Interval.H1, Interval.D1)
    with pytest.raises(ConfigError, match="give at least one symbol"):
        parse_symbols([" ", ""])


def test_an_order_is_parsed_exactly() -> None:
    order = parse_order(
        Side.SELL, "ethusdt", "0.010", limit="3000.50", tif="postonly", link_id="mine-1", category="Spot"
    )
    assert (order.category, order.symbol, order.side, order.order_type) == (
        Category.SPOT,
        "ETHUSDT",
        Side.SELL,
        OrderType.LIMIT,
    )
    assert (str(order.qty), str(order.price), order.time_in_force) == (
        "0.010",
        "3000.50",
        TimeInForce.POST_ONLY,
    )
    assert order.order_link_id == "mine-1"
    market = parse_order(Side.BUY, "BTCUSDT", "1")
    assert (market.order_type, market.price, market.qty) == (OrderType.MARKET, None, Decimal(1))


@pytest.mark.parametrize(
    ("qty", "limit", "fragment"),
    [
        ("abc", None, "invalid quantity 'abc'"),
        ("-1", None, "invalid quantity '-1': must be a positive number"),
        ("1", "NaN", "invalid --limit price 'NaN'"),
        ("1e30", None, "invalid quantity '1e30'"),
    ],
)
def test_bad_numbers_are_refused_naming_the_argument(qty: str, limit: str | None, fragment: str) -> None:
    with pytest.raises(InvalidNumberError) as refused:
        parse_order(Side.BUY, "BTCUSDT", qty, limit=limit)
    assert fragment in str(refused.value)


def test_other_order_input_errors() -> None:
    with pytest.raises(ConfigError, match="invalid --tif 'GTD': use GTC, IOC, FOK or PostOnly"):
        parse_time_in_force("GTD")
    with pytest.raises(ConfigError, match="invalid category 'futures'"):
        parse_order(Side.BUY, "BTCUSDT", "1", category="futures")
    with pytest.raises(ConfigError, match="nothing to amend"):
        parse_amend("BTCUSDT", order_id="1")
    amend = parse_amend("btcusdt", link_id="x", price="101.5")
    assert (amend.symbol, amend.order_link_id, amend.qty, amend.price) == (
        "BTCUSDT",
        "x",
        None,
        Decimal("101.5"),
    )


def test_a_download_is_checked_before_any_request(tmp_path: Path) -> None:
    job = parse_download(
        ["btcusdt", "ETHUSDT", "btcusdt"],
        ["60", "1h", "D"],
        "2023-01-01",
        "2023-03-01T12:00",
        category="SPOT",
        concurrency=1,
        data_dir=tmp_path,
    )
    assert (job.category, job.symbols, job.intervals) == (
        Category.SPOT,
        ("BTCUSDT", "ETHUSDT"),
        (Interval.H1, Interval.D1),
    )
    assert (job.since_ms, job.until_ms) == (1_672_531_200_000, 1_677_672_000_000)
    assert (job.concurrency, job.data_dir) == (1, tmp_path)
    from_listing = parse_download(["BTCUSDT"], ["1"], "LISTING")
    assert (from_listing.since_ms, from_listing.until_ms, from_listing.concurrency) == (None, None, None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"category": "option"}, "invalid category 'option': use spot, linear or inverse"),
        ({"intervals": ["7"]}, "invalid interval '7'"),
        (
            {"since": "2023-02-01", "until": "2023-01-01"},
            "--since 2023-02-01 is not before --until 2023-01-01",
        ),
        ({"since": "someday"}, "invalid --since 'someday'"),
        ({"concurrency": 0}, "invalid --concurrency 0"),
        ({"symbols": ["BTC USDT"]}, "invalid symbol 'BTC USDT'"),
    ],
)
def test_bad_download_requests_name_the_argument(args: dict[str, object], message: str) -> None:
    request: dict[str, object] = {"symbols": ["BTCUSDT"], "intervals": ["1"], "since": "2023-01-01"} | args
    with pytest.raises(ConfigError) as refused:
        parse_download(**request)  # type: ignore[arg-type]
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("600/5s", (600, 5.0)), ("10/250ms", (10, 0.25)), ("120 / 1", (120, 1.0)), ("off", (0, 5.0))],
)
def test_ip_limit_forms(text: str, expected: tuple[int, float]) -> None:
    assert parse_ip_limit(text) == expected


def test_sim_options_become_the_sim_config() -> None:
    launch = plan_sim(
        SimOptions(
            port=0,
            seed=9,
            ip_limit="100/1s",
            error_rate=0.1,
            now="2024-06-01T12:00",
            api_keys=("a", "b"),
            api_secrets=("x", "y"),
            balances=("5", "7"),
            order_latency_ms=3,
            snapshot_every_s=2.5,
        )
    )
    config = launch.config
    assert (config.port, config.seed, config.ip_limit_requests, config.ip_limit_window_s) == (0, 9, 100, 1.0)
    assert config.faults.error_rate == 0.1
    assert launch.clock is not None
    assert launch.clock.now_ms() == 1_717_243_200_000
    assert [(a.api_key, a.balances["USDT"]) for a in launch.trading.accounts] == [("a", 5), ("b", 7)]
    assert launch.trading.latency_ms == 3
    assert launch.trading.save_every_s == 2.5
    assert "y-secret" not in repr(SimOptions(api_keys=("a",), api_secrets=("y-secret",), admin_token="t0k"))
    assert "t0k" not in repr(SimOptions(admin_token="t0k"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (SimOptions(error_rate=0.7, drop_rate=0.7), "fault rates add up to 1.400"),
        (SimOptions(api_keys=("a",)), "give one --api-secret per --api-key"),
        (SimOptions(api_keys=("a", "a"), api_secrets=("x", "y")), "each --api-key must be different"),
        (SimOptions(balances=("lots",)), "invalid --balance 'lots'"),
        (SimOptions(now="yesterday"), "invalid --now 'yesterday'"),
        (SimOptions(ip_limit="0/5s"), "invalid --ip-limit '0/5s'"),
    ],
)
def test_bad_sim_options_are_one_clear_error(options: SimOptions, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        plan_sim(options)
    assert str(refused.value).startswith(message)


def test_a_download_of_the_future_is_caught_by_the_listing_check_not_here() -> None:
    tomorrow = (datetime.now(tz=UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    job = parse_download(["BTCUSDT"], ["1"], tomorrow)  # "now" is the exchange's: checked when run
    assert job.since_ms is not None
    assert job.since_ms % DAY_MS == 0
