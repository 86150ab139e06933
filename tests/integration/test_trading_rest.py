"""The REST client's signed trading calls against `bst sim` over loopback: every private endpoint.

The shared sim's clock is frozen (ManualClock), so prices and fills are exact: they come from the
generator's book at that instant. The client reads the sim clock for its timestamps (`SimTime`) and
sleeps for real (retry backoff), so nothing drifts while the sim time stands still.
"""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bst.bybit.endpoints import UID_LIMITS_PER_S
from bst.domain.clock import SystemClock
from bst.domain.errors import (
    BybitAuthError,
    BybitConnectionError,
    BybitDuplicateOrderError,
    BybitOrderError,
    BybitOrderNotFoundError,
    BybitRateLimitError,
    BybitServerError,
    BybitSignatureError,
    BybitTimeoutError,
    OrderValidationError,
)
from bst.domain.market import Category, Side
from bst.domain.orders import (
    AmendRequest,
    ExecType,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from bst.domain.portfolio import PositionSide
from bst.exchange.config import ClientConfig, Credentials, RetryConfig
from bst.exchange.rest import BybitRestClient
from bst.exchange.throttle import RateLimiter
from bst.sim.faults import FaultConfig, FaultKind
from bst.sim.trading_desk import ApiAccount, desk_of

KEY, SECRET = "trader-key-1", "trader-secret-1"
NOW = 1_717_243_230_500  # the sim fixtures' frozen clock
SYMBOL = "BTCUSDT"
LINEAR = Category.LINEAR
FAST_RETRY = RetryConfig(
    max_attempts=3, initial_delay_s=0.01, backoff_factor=2.0, max_delay_s=0.2, jitter_s=0.0
)
TAKER, MAKER = Decimal("0.00055"), Decimal("0.0002")


class SimTime:
    """A client clock that reads the sim's (possibly frozen) clock and sleeps for real."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim

    def now_ms(self) -> int:
        return int(self.sim.clock.now_ms())

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class Recorder(httpx.AsyncBaseTransport):
    """A real loopback transport that remembers each reply: (path, retCode or None, headers)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.replies: list[tuple[str, int | None, httpx.Headers]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
        except httpx.HTTPError:
            self.replies.append((request.url.path, None, httpx.Headers()))
            raise
        try:
            code = json.loads(response.content).get("retCode")
        except ValueError:
            code = None
        self.replies.append((request.url.path, code, response.headers))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.replies]


def trading_client(
    sim: Any,
    *,
    key: str = KEY,
    secret: str = SECRET,
    pacing: bool = False,
    clock: Any = None,
    transport: httpx.AsyncBaseTransport | None = None,
    **overrides: Any,
) -> BybitRestClient:
    """Return a client of the sim with its own rate budget (per-UID pacing only when asked)."""
    config = ClientConfig(
        base_url=sim.base_url,
        credentials=Credentials(key, secret),
        **{"retry": FAST_RETRY, "timeout_s": 5.0, **overrides},
    )
    clock = clock or SimTime(sim)
    limiter = RateLimiter(clock, 1_000_000, 5.0, dict(UID_LIMITS_PER_S) if pacing else {})
    return BybitRestClient(config, clock=clock, limiter=limiter, transport=transport)


def fresh_desk(sim: Any, *accounts: ApiAccount) -> Any:
    """Give the (shared) sim a new engine at its clock with `accounts` (default: KEY, funded 100k USDT)."""
    desk = desk_of(sim.state)
    desk.reset()
    for account in accounts or (ApiAccount(KEY, SECRET),):
        desk.add_account(account)
    return sim


@pytest.fixture
def trading_sim(sim: Any) -> Any:
    return fresh_desk(sim)


def limit(price: Decimal, qty: str = "0.001", *, side: Side = Side.BUY, **fields: Any) -> OrderRequest:
    return OrderRequest(LINEAR, SYMBOL, side, OrderType.LIMIT, Decimal(qty), price=price, **fields)


def market(qty: str, *, side: Side = Side.BUY, symbol: str = SYMBOL, **fields: Any) -> OrderRequest:
    return OrderRequest(LINEAR, symbol, side, OrderType.MARKET, Decimal(qty), **fields)


def top_of_book(sim: Any, symbol: str = SYMBOL) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    book = sim.generator.book_snapshot(symbol, sim.clock.now_ms(), 50)
    (bid, bid_size), (ask, ask_size) = book.bids[0], book.asks[0]
    return bid, bid_size, ask, ask_size


async def test_a_market_order_fills_and_every_query_agrees(trading_sim: Any) -> None:
    _, _, ask, ask_size = top_of_book(trading_sim)
    assert ask_size >= Decimal("0.001")
    async with trading_client(trading_sim) as client:
        instrument = await client.get_instrument(LINEAR, SYMBOL)
        ack = await client.place_order(market("0.0014", order_link_id="mkt-1"), instrument)
        fills = await client.get_executions(LINEAR, symbol=SYMBOL)
        [order] = await client.get_order_history(LINEAR, order_link_id="mkt-1")
        found = await client.find_order(LINEAR, SYMBOL, "mkt-1")
        [position] = await client.get_positions(LINEAR, symbol=SYMBOL)
        wallet = await client.get_wallet_balance(coins=["USDT"])

    fee = ask * Decimal("0.001") * TAKER
    assert ack.order_link_id == "mkt-1"
    assert [(f.order_id, f.exec_price, f.exec_qty, f.is_maker, f.exec_fee, f.exec_type) for f in fills] == [
        (ack.order_id, ask, Decimal("0.001"), False, fee, ExecType.TRADE)
    ]
    assert (order.order_id, order.status, order.time_in_force, order.qty, order.cum_exec_qty) == (
        ack.order_id,
        OrderStatus.FILLED,
        TimeInForce.IOC,
        Decimal("0.001"),  # 0.0014 rounded down to the lot step before sending
        Decimal("0.001"),
    )
    assert found == order
    assert (position.side, position.size, position.avg_price) == (PositionSide.BUY, Decimal("0.001"), ask)
    [usdt] = wallet.coins
    assert (usdt.coin, usdt.wallet_balance) == ("USDT", Decimal(100_000) - fee)


async def test_a_limit_order_rests_is_amended_and_cancelled(trading_sim: Any) -> None:
    bid, _, _, _ = top_of_book(trading_sim)
    async with trading_client(trading_sim) as client:
        instrument = await client.get_instrument(LINEAR, SYMBOL)
        ack = await client.place_order(
            limit(bid - Decimal("100.05"), "0.01", order_link_id="lim-1"), instrument
        )
        [resting] = await client.get_open_orders(LINEAR, symbol=SYMBOL)
        amended = await client.amend_order(
            AmendRequest(LINEAR, SYMBOL, order_link_id="lim-1", qty=Decimal("0.02"), price=bid - 200)
        )
        [after_amend] = await client.get_open_orders(LINEAR, symbol=SYMBOL)
        cancelled = await client.cancel_order(LINEAR, SYMBOL, order_id=ack.order_id)
        still_open = await client.get_open_orders(LINEAR, symbol=SYMBOL)
        [closed] = await client.get_order_history(LINEAR, symbol=SYMBOL)
        with pytest.raises(BybitOrderNotFoundError) as again:
            await client.cancel_order(LINEAR, SYMBOL, order_link_id="lim-1")

    # A buy's price rounds down to the tick (never more aggressive than asked).
    assert (resting.price, resting.qty, resting.status, resting.time_in_force) == (
        bid - Decimal("100.1"),
        Decimal("0.01"),
        OrderStatus.NEW,
        TimeInForce.GTC,
    )
    assert amended == ack == cancelled
    assert (after_amend.qty, after_amend.price, after_amend.leaves_qty) == (
        Decimal("0.02"),
        bid - 200,
        Decimal("0.02"),
    )
    assert still_open == []
    assert (closed.status, closed.cancel_type, closed.cum_exec_qty) == (
        OrderStatus.CANCELLED,
        "CancelByUser",
        Decimal(0),
    )
    assert again.value.ret_code == 110001


async def test_time_in_force_ioc_fok_and_post_only(trading_sim: Any) -> None:
    bid, _, ask, ask_size = top_of_book(trading_sim)
    beyond_best = str(ask_size + Decimal("0.001"))
    cases = [
        ("ioc-cross", limit(ask, time_in_force=TimeInForce.IOC, order_link_id="ioc-cross")),
        ("ioc-passive", limit(bid, time_in_force=TimeInForce.IOC, order_link_id="ioc-passive")),
        ("fok-short", limit(ask, beyond_best, time_in_force=TimeInForce.FOK, order_link_id="fok-short")),
        ("fok-full", limit(ask, time_in_force=TimeInForce.FOK, order_link_id="fok-full")),
        ("po-cross", limit(ask, time_in_force=TimeInForce.POST_ONLY, order_link_id="po-cross")),
        ("po-passive", limit(bid, time_in_force=TimeInForce.POST_ONLY, order_link_id="po-passive")),
    ]
    async with trading_client(trading_sim) as client:
        instrument = await client.get_instrument(LINEAR, SYMBOL)
        outcome = {}
        for link, request in cases:
            await client.place_order(request, instrument)
            order = await client.find_order(LINEAR, SYMBOL, link)
            assert order is not None
            outcome[link] = (order.status, order.reject_reason, order.cum_exec_qty)
        fills = await client.get_executions(LINEAR, symbol=SYMBOL)

    assert outcome == {
        "ioc-cross": (OrderStatus.FILLED, "EC_NoError", Decimal("0.001")),
        "ioc-passive": (OrderStatus.CANCELLED, "EC_NoImmediateQtyToFill", Decimal(0)),
        "fok-short": (OrderStatus.CANCELLED, "EC_NoEnoughQtyToFill", Decimal(0)),
        "fok-full": (OrderStatus.FILLED, "EC_NoError", Decimal("0.001")),
        "po-cross": (OrderStatus.CANCELLED, "EC_PostOnlyWillTakeLiquidity", Decimal(0)),
        "po-passive": (OrderStatus.NEW, "EC_NoError", Decimal(0)),
    }
    assert sorted((f.order_link_id, f.exec_price, f.is_maker) for f in fills) == [
        ("fok-full", ask, False),
        ("ioc-cross", ask, False),
    ]


async def test_reduce_only_take_profit_and_stop_loss(trading_sim: Any) -> None:
    _, _, ask, _ = top_of_book(trading_sim)
    take_profit, stop_loss = ask + 1000, ask - 1000
    async with trading_client(trading_sim) as client:
        with pytest.raises(BybitOrderError) as nothing_to_reduce:
            await client.place_order(market("0.001", side=Side.SELL, reduce_only=True))
        await client.place_order(market("0.002", take_profit=take_profit, stop_loss=stop_loss))
        [opened] = await client.get_positions(LINEAR, symbol=SYMBOL)
        await client.place_order(market("0.001", side=Side.SELL, reduce_only=True, order_link_id="ro-1"))
        [reduced] = await client.get_positions(LINEAR, symbol=SYMBOL)
        reducing = await client.find_order(LINEAR, SYMBOL, "ro-1")

    assert nothing_to_reduce.value.ret_code == 110017
    assert (opened.size, opened.take_profit, opened.stop_loss) == (Decimal("0.002"), take_profit, stop_loss)
    assert reduced.size == Decimal("0.001")
    assert reducing is not None
    assert (reducing.reduce_only, reducing.status) == (True, OrderStatus.FILLED)


async def test_an_order_breaking_the_instrument_limits_is_refused_before_sending(trading_sim: Any) -> None:
    recorder = Recorder()
    async with trading_client(trading_sim, transport=recorder) as client:
        instrument = await client.get_instrument(LINEAR, SYMBOL)
        sent_before = len(recorder.replies)
        with pytest.raises(OrderValidationError, match="below the minimum"):
            await client.place_order(limit(Decimal(50_000), "0.0004"), instrument)
        with pytest.raises(OrderValidationError, match="orderLinkId"):
            await client.place_order(limit(Decimal(50_000), order_link_id="has space"), instrument)
    assert len(recorder.replies) == sent_before


async def test_cancel_all_by_symbol_then_by_settle_coin(trading_sim: Any) -> None:
    bid, _, _, _ = top_of_book(trading_sim)
    eth_bid = top_of_book(trading_sim, "ETHUSDT")[0]
    async with trading_client(trading_sim) as client:
        first = await client.place_order(limit(bid - 500))
        second = await client.place_order(limit(bid - 600))
        eth = await client.place_order(
            OrderRequest(LINEAR, "ETHUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.1"), price=eth_bid - 50)
        )
        btc_cancelled = await client.cancel_all_orders(LINEAR, symbol=SYMBOL)
        left = await client.get_open_orders(LINEAR)
        rest_cancelled = await client.cancel_all_orders(LINEAR)
        after = await client.get_open_orders(LINEAR)

    assert sorted(a.order_id for a in btc_cancelled) == sorted([first.order_id, second.order_id])
    assert [o.order_id for o in left] == [eth.order_id]
    assert rest_cancelled == [eth]
    assert after == []


async def test_open_orders_and_history_follow_every_page(trading_sim: Any) -> None:
    bid, _, _, _ = top_of_book(trading_sim)
    recorder = Recorder()
    placed = []
    async with trading_client(trading_sim, transport=recorder) as client:
        for i in range(55):
            if i and i % 10 == 0:
                trading_sim.clock.advance(1.0)  # stay within the 10/s per-UID create limit
            ack = await client.place_order(limit(bid - 100 - i, order_link_id=f"page-{i:02d}"))
            placed.append(ack.order_id)
        open_orders = await client.get_open_orders(LINEAR, symbol=SYMBOL)
        cancelled = await client.cancel_all_orders(LINEAR, symbol=SYMBOL)
        history = await client.get_order_history(LINEAR, symbol=SYMBOL)

    newest_first = list(reversed(placed))
    assert [o.order_id for o in open_orders] == newest_first
    assert recorder.paths().count("/v5/order/realtime") == 2  # 50 + 5
    assert len(cancelled) == 55
    assert [o.order_id for o in history] == newest_first
    assert {o.status for o in history} == {OrderStatus.CANCELLED}


async def test_fee_rates_and_leverage(trading_sim: Any) -> None:
    async with trading_client(trading_sim) as client:
        [linear] = await client.get_fee_rates(LINEAR, SYMBOL)
        spot = await client.get_fee_rates(Category.SPOT, SYMBOL)
        changed = await client.set_leverage(LINEAR, SYMBOL, "20")
        unchanged = await client.set_leverage(LINEAR, SYMBOL, "20")
        [position] = await client.get_positions(LINEAR, symbol=SYMBOL)

    assert (linear.symbol, linear.taker_fee_rate, linear.maker_fee_rate) == (SYMBOL, TAKER, MAKER)
    assert [(r.taker_fee_rate, r.maker_fee_rate) for r in spot] == [(Decimal("0.001"), Decimal("0.001"))]
    assert (changed, unchanged) == (True, False)  # the second call is Bybit's 110043 "not modified"
    assert (position.leverage, position.size, position.side) == (Decimal(20), Decimal(0), PositionSide.NONE)


async def test_a_duplicate_order_link_id_is_refused_with_110072(trading_sim: Any) -> None:
    bid, _, _, _ = top_of_book(trading_sim)
    async with trading_client(trading_sim) as client:
        first = await client.place_order(limit(bid - 300, order_link_id="dup-1"))
        with pytest.raises(BybitDuplicateOrderError) as duplicate:
            await client.place_order(limit(bid - 301, order_link_id="dup-1"))
        orders = await client.get_open_orders(LINEAR, symbol=SYMBOL)

    assert (duplicate.value.ret_code, duplicate.value.ret_msg) == (110072, "OrderLinkedID is duplicate")
    assert [(o.order_id, o.order_link_id, o.price) for o in orders] == [(first.order_id, "dup-1", bid - 300)]


async def test_bad_credentials_are_refused_and_never_retried(trading_sim: Any) -> None:
    recorder = Recorder()
    async with trading_client(trading_sim, secret="wrong-secret", transport=recorder) as client:
        with pytest.raises(BybitSignatureError) as bad_sign:
            await client.get_wallet_balance()
        with pytest.raises(BybitSignatureError):
            await client.place_order(market("0.001"))
    async with trading_client(trading_sim, key="nobody") as client:
        with pytest.raises(BybitAuthError) as unknown_key:
            await client.get_positions(LINEAR, symbol=SYMBOL)

    assert bad_sign.value.ret_code == 10004
    assert bad_sign.value.ret_msg.startswith("error sign!")
    assert "wrong-secret" not in str(bad_sign.value)
    assert [(path, code) for path, code, _ in recorder.replies] == [
        ("/v5/market/time", 0),
        ("/v5/account/wallet-balance", 10004),
        ("/v5/order/create", 10004),
    ]
    assert (type(unknown_key.value), unknown_key.value.ret_code) == (BybitAuthError, 10003)


async def test_a_stale_timestamp_is_resynced_and_retried(trading_sim: Any) -> None:
    recorder = Recorder()
    async with trading_client(trading_sim, transport=recorder) as client:
        await client.sync_time()
        client.http.time_offset_ms -= 10_000  # our clock jumped 10 s back
        wallet = await client.get_wallet_balance()
        ack = await client.place_order(market("0.001"))
        offset = client.http.time_offset_ms

    assert wallet.total_wallet_balance == Decimal(100_000)
    assert ack.order_id
    assert offset == 0  # the client reads the sim's clock, so the re-measured offset is exact
    assert [(path, code) for path, code, _ in recorder.replies] == [
        ("/v5/market/time", 0),
        ("/v5/account/wallet-balance", 10002),
        ("/v5/market/time", 0),
        ("/v5/account/wallet-balance", 0),
        ("/v5/order/create", 0),
    ]


async def test_a_lost_create_or_amend_reply_is_reported_as_unknown_and_never_resolved_by_the_client(
    trading_sim: Any,
) -> None:
    bid, _, _, _ = top_of_book(trading_sim)
    recorder = Recorder()
    orders_only = ("/v5/order/create", "/v5/order/amend")
    trading_sim.set_faults(FaultConfig(script=(FaultKind.DROP, FaultKind.DROP), path_prefixes=orders_only))
    async with trading_client(trading_sim, transport=recorder) as client:
        with pytest.raises(BybitConnectionError) as create_lost:
            await client.place_order(limit(bid - 400, order_link_id="lost-1"))
        with pytest.raises(BybitConnectionError) as amend_lost:
            await client.amend_order(
                AmendRequest(LINEAR, SYMBOL, order_link_id="lost-1", qty=Decimal("0.003"))
            )
        orders = await client.get_open_orders(LINEAR, symbol=SYMBOL)

    # Each request went out once; the client neither looked the order up nor re-sent it.
    assert [(p, c) for p, c, _ in recorder.replies][1:] == [
        ("/v5/order/create", None),
        ("/v5/order/amend", None),
        ("/v5/order/realtime", 0),
    ]
    assert (create_lost.value.outcome_unknown, amend_lost.value.outcome_unknown) == (True, True)
    # Both did reach the exchange: one order, amended.
    assert [(o.order_link_id, o.qty) for o in orders] == [("lost-1", Decimal("0.003"))]


async def test_a_create_that_times_out_is_reported_as_unknown(sim_factory: Any) -> None:
    sim = fresh_desk(sim_factory(ip_limit_requests=1_000_000))
    bid, _, _, _ = top_of_book(sim)
    sim.set_faults(
        FaultConfig(script=(FaultKind.TIMEOUT,), timeout_hold_s=0.6, path_prefixes=("/v5/order/create",))
    )
    recorder = Recorder()
    async with trading_client(sim, transport=recorder, timeout_s=0.3) as client:
        with pytest.raises(BybitTimeoutError) as slow:
            await client.place_order(limit(bid - 400, order_link_id="slow-1"))
        orders = await client.get_open_orders(LINEAR, symbol=SYMBOL)

    assert slow.value.outcome_unknown is True
    assert [(p, c) for p, c, _ in recorder.replies][1:] == [
        ("/v5/order/create", None),
        ("/v5/order/realtime", 0),
    ]
    assert [o.order_link_id for o in orders] == ["slow-1"]


async def test_a_server_failure_on_create_is_unknown_and_not_repeated_while_reads_are_retried(
    trading_sim: Any,
) -> None:
    recorder = Recorder()
    trading_sim.set_faults(
        FaultConfig(
            script=(FaultKind.ERROR, FaultKind.ERROR),
            error_codes=(10016,),
            path_prefixes=("/v5/order/create", "/v5/position/"),
        )
    )
    async with trading_client(trading_sim, transport=recorder) as client:
        with pytest.raises(BybitServerError) as failed:
            await client.place_order(market("0.001", order_link_id="srv-1"))
        positions = await client.get_positions(LINEAR, symbol=SYMBOL)

    assert (failed.value.ret_code, failed.value.outcome_unknown) == (10016, True)
    assert [(p, c) for p, c, _ in recorder.replies][1:] == [
        ("/v5/order/create", 10016),
        ("/v5/position/list", 10016),
        ("/v5/position/list", 0),
    ]
    assert [p.size for p in positions] == [Decimal(0)]  # the sim refused it before the route: no order


async def place_burst(client: BybitRestClient, count: int, highest: Decimal) -> None:
    for i in range(count):
        await client.place_order(limit(highest - i))


async def test_the_per_uid_limit_answers_10006_with_headers_and_the_client_waits_it_out(
    sim_factory: Any,
) -> None:
    sim = fresh_desk(sim_factory(clock=SystemClock(), ip_limit_requests=1_000_000))
    bid, _, _, _ = top_of_book(sim)
    unpaced, paced = Recorder(), Recorder()
    retry = RetryConfig(max_attempts=4, initial_delay_s=0.01, max_delay_s=2.0, jitter_s=0.0)
    started_ms = SystemClock().now_ms()
    async with trading_client(sim, clock=SystemClock(), transport=unpaced, retry=retry) as client:
        burst = [await client.place_order(limit(bid - 1000 - i)) for i in range(11)]
    burst_ms = SystemClock().now_ms()
    async with trading_client(sim, clock=SystemClock(), transport=paced, pacing=True) as client:
        await asyncio.sleep(1.0)  # let the sim's one-second window of the burst pass
        steady = [await client.place_order(limit(bid - 2000 - i)) for i in range(11)]
    async with trading_client(sim, clock=SystemClock(), retry=RetryConfig(max_attempts=1)) as client:
        with pytest.raises(BybitRateLimitError) as refused:
            await place_burst(client, 11, bid - 3000)

    creates = [(code, headers) for path, code, headers in unpaced.replies if path == "/v5/order/create"]
    assert [code for code, _ in creates] == [0] * 10 + [10006, 0]
    limited = creates[10][1]
    assert (limited["X-Bapi-Limit"], limited["X-Bapi-Limit-Status"]) == ("10", "0")
    assert started_ms < int(limited["X-Bapi-Limit-Reset-Timestamp"]) <= burst_ms + 1000
    assert len({a.order_id for a in burst}) == 11
    # A client pacing itself to the per-UID budget never meets 10006.
    assert [c for p, c, _ in paced.replies if p == "/v5/order/create"] == [0] * 11
    assert len({a.order_id for a in steady}) == 11
    assert (refused.value.ret_code, refused.value.reset_at_ms is not None) == (10006, True)


@pytest.mark.parametrize("ip_limit", [1_000_000, 0])
async def test_an_injected_10006_carries_the_per_uid_limit_of_the_endpoint(
    sim_factory: Any, ip_limit: int
) -> None:
    sim = fresh_desk(sim_factory(ip_limit_requests=ip_limit))
    sim.set_faults(FaultConfig(script=(FaultKind.RATE_LIMIT,), path_prefixes=("/v5/order/create",)))
    recorder = Recorder()
    async with trading_client(sim, transport=recorder, retry=RetryConfig(max_attempts=1)) as client:
        with pytest.raises(BybitRateLimitError):
            await client.place_order(market("0.001"))
    [(_, code, headers)] = [r for r in recorder.replies if r[0] == "/v5/order/create"]
    assert code == 10006
    # Bybit's 10006 on /v5/order/create (linear) reports that endpoint's per-UID budget: 10 a second.
    assert (headers["X-Bapi-Limit"], headers["X-Bapi-Limit-Status"]) == ("10", "0")


async def test_a_lost_cancel_reply_is_unknown_and_a_gone_order_is_not_found(trading_sim: Any) -> None:
    bid, _, _, _ = top_of_book(trading_sim)
    recorder = Recorder()
    async with trading_client(trading_sim, transport=recorder) as client:
        await client.place_order(limit(bid - 400, order_link_id="cxl-lost-1"))
        trading_sim.set_faults(FaultConfig(script=(FaultKind.DROP,), path_prefixes=("/v5/order/cancel",)))
        with pytest.raises(BybitConnectionError) as lost:
            await client.cancel_order(LINEAR, SYMBOL, order_link_id="cxl-lost-1")
        with pytest.raises(BybitOrderNotFoundError) as again:
            await client.cancel_order(LINEAR, SYMBOL, order_link_id="cxl-lost-1")
        with pytest.raises(BybitOrderNotFoundError) as never:
            await client.cancel_order(LINEAR, SYMBOL, order_link_id="never-placed")
        history = await client.get_order_history(LINEAR, symbol=SYMBOL, order_link_id="cxl-lost-1")

    assert lost.value.outcome_unknown is True
    # Each cancel went out once: the lost one did cancel; the next two are refused with 110001.
    assert [c for p, c, _ in recorder.replies if p == "/v5/order/cancel"] == [None, 110001, 110001]
    assert (again.value.ret_code, again.value.outcome_unknown) == (110001, False)
    assert never.value.ret_code == 110001
    assert [o.status for o in history] == [OrderStatus.CANCELLED]
