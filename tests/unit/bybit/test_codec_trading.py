"""Private payload parsers (orders, executions, positions, wallet, fees) on the recorded fixtures."""

import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bst.bybit.codec import account, orders
from bst.bybit.codec.envelope import decode_envelope
from bst.domain.market import Category, Side
from bst.domain.orders import ExecType, MarketUnit, OrderRequest, OrderStatus, OrderType, TimeInForce
from bst.domain.portfolio import PositionSide


def rest(fixtures_dir: Path, name: str) -> dict[str, Any]:
    return decode_envelope(json.loads((fixtures_dir / "rest" / name).read_text())).result


def ws(fixtures_dir: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((fixtures_dir / "ws" / name).read_text())
    return data


def test_open_linear_order(fixtures_dir: Path) -> None:
    (item,) = rest(fixtures_dir, "ccxt_order_realtime_linear_open.json")["list"]
    order = orders.parse_order(item, Category.LINEAR)
    assert order.status is OrderStatus.NEW
    assert (order.price, order.qty, order.leaves_qty, order.cum_exec_qty) == (
        Decimal("102000"),
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal("0"),
    )
    assert order.avg_price is None
    assert order.take_profit is None
    assert order.order_type is OrderType.LIMIT
    assert order.time_in_force is TimeInForce.GTC
    assert order.created_time_ms == 1758189775648
    assert order.is_open


def test_filled_market_order_history(fixtures_dir: Path) -> None:
    (item,) = rest(fixtures_dir, "ccxt_order_history_linear_market_filled.json")["list"]
    order = orders.parse_order(item, Category.LINEAR)
    assert order.status is OrderStatus.FILLED
    assert order.leaves_qty == 0
    assert order.cum_exec_qty == order.qty
    assert order.avg_price is not None


def test_spot_partially_filled_canceled_market_order(fixtures_dir: Path) -> None:
    (item,) = rest(fixtures_dir, "ccxt_order_history_spot_market_partially_filled_canceled.json")["list"]
    order = orders.parse_order(item, Category.SPOT)
    assert order.status is OrderStatus.PARTIALLY_FILLED_CANCELED
    assert order.market_unit is MarketUnit.QUOTE_COIN
    assert not order.is_open


def test_ws_option_order_names_its_category(fixtures_dir: Path) -> None:
    msg = ws(fixtures_dir, "private_order_option_filled.json")
    order = orders.parse_order(msg["data"][0])
    assert order.category is Category.OPTION
    assert order.status is OrderStatus.FILLED


def test_linear_trade_execution(fixtures_dir: Path) -> None:
    item = rest(fixtures_dir, "ccxt_execution_list_linear_trade.json")["list"][0]
    ex = orders.parse_execution(item, Category.LINEAR)
    assert ex.exec_type is ExecType.TRADE
    assert (ex.exec_price, ex.exec_qty, ex.exec_fee, ex.fee_rate) == (
        Decimal("85.11"),
        Decimal("0.1"),
        Decimal("0.00468105"),
        Decimal("0.00055"),
    )
    assert ex.is_maker is False
    assert ex.seq == 15961900053
    assert ex.exec_value == ex.exec_price * ex.exec_qty


def test_funding_execution(fixtures_dir: Path) -> None:
    item = rest(fixtures_dir, "ccxt_execution_list_linear_funding.json")["list"][0]
    assert orders.parse_execution(item, Category.LINEAR).exec_type is ExecType.FUNDING


def test_ws_execution_with_closed_size(fixtures_dir: Path) -> None:
    msg = ws(fixtures_dir, "private_execution_linear_btcusdt_2025.json")
    ex = orders.parse_execution(msg["data"][0])
    assert ex.category is Category.LINEAR
    assert ex.side is Side.SELL
    assert ex.closed_size == ex.exec_qty


def test_rest_position_uses_avg_price(fixtures_dir: Path) -> None:
    (item,) = rest(fixtures_dir, "ccxt_position_list_linear_ltcusdt.json")["list"]
    pos = account.parse_position(item, Category.LINEAR)
    assert pos.side is PositionSide.BUY
    assert (pos.size, pos.avg_price, pos.leverage) == (Decimal("1.2"), Decimal("64.59947917"), Decimal("6"))
    assert pos.liq_price is None
    assert pos.unrealised_pnl == Decimal("7.800625")


def test_flat_position(fixtures_dir: Path) -> None:
    (item,) = rest(fixtures_dir, "ccxt_position_list_linear_ltcusdt_flat.json")["list"]
    pos = account.parse_position(item, Category.LINEAR)
    assert pos.side is PositionSide.NONE
    assert pos.size == 0


def test_ws_position_uses_entry_price(fixtures_dir: Path) -> None:
    msg = ws(fixtures_dir, "private_position_linear_ethusdt_2025.json")
    pos = account.parse_position(msg["data"][0])
    assert pos.side is PositionSide.SELL
    assert pos.avg_price == Decimal("3641.075")
    assert pos.cur_realised_pnl == Decimal("0.0094814")
    assert pos.seq == 325852190774


def test_wallet_balance(fixtures_dir: Path) -> None:
    (wallet,) = account.parse_wallets(rest(fixtures_dir, "ccxt_account_wallet_balance_unified.json"))
    assert wallet.account_type == "UNIFIED"
    assert wallet.total_equity == Decimal("92255.96988644")
    usdc = wallet.coin("USDC")
    assert usdc is not None
    assert usdc.wallet_balance == Decimal("5848.20013918")
    assert len(wallet.coins) == 7


def test_ws_wallet(fixtures_dir: Path) -> None:
    msg = ws(fixtures_dir, "private_wallet_unified.json")
    wallet = account.parse_wallet(msg["data"][0])
    assert {c.coin for c in wallet.coins} == {"USDC", "BTC", "USDT"}


def test_fee_rate(fixtures_dir: Path) -> None:
    rates = account.parse_fee_rates(rest(fixtures_dir, "account_fee_rate.json"))
    rate = rates[0]
    assert len(rates) > 1
    assert (rate.symbol, rate.taker_fee_rate, rate.maker_fee_rate) == (
        "ETHUSDT",
        Decimal("0.0006"),
        Decimal("0.0001"),
    )


def test_order_create_ack(fixtures_dir: Path) -> None:
    ack = orders.parse_ack(rest(fixtures_dir, "ccxt_order_create_spot_limit.json"))
    assert ack.order_id


def test_encoded_entities_parse_back(fixtures_dir: Path) -> None:
    for name, cat in [
        ("ccxt_order_realtime_linear_open.json", Category.LINEAR),
        ("ccxt_order_history_linear_market_filled.json", Category.LINEAR),
    ]:
        order = orders.parse_order(rest(fixtures_dir, name)["list"][0], cat)
        assert orders.parse_order(orders.encode_order(order), cat) == order
        assert orders.parse_order(orders.encode_order(order, ws=True)) == order
    ex = orders.parse_execution(rest(fixtures_dir, "ccxt_execution_list_linear_trade.json")["list"][0])
    assert orders.parse_execution(orders.encode_execution(ex, ws=True)) == ex
    pos = account.parse_position(rest(fixtures_dir, "ccxt_position_list_linear_ltcusdt.json")["list"][0])
    assert account.parse_position(account.encode_position(pos)) == pos
    assert account.parse_position(account.encode_position(pos, ws=True)) == pos
    (wallet,) = account.parse_wallets(rest(fixtures_dir, "ccxt_account_wallet_balance_unified.json"))
    assert account.parse_wallet(account.encode_wallet(wallet)) == wallet


qty = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("10000"), places=3)
requests = st.builds(
    OrderRequest,
    category=st.sampled_from([Category.LINEAR, Category.SPOT]),
    symbol=st.sampled_from(["BTCUSDT", "ETHUSDT"]),
    side=st.sampled_from(list(Side)),
    order_type=st.just(OrderType.LIMIT),
    qty=qty,
    price=st.decimals(min_value=Decimal("0.1"), max_value=Decimal("200000"), places=1),
    time_in_force=st.sampled_from(
        [None, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.POST_ONLY]
    ),
    order_link_id=st.from_regex(r"[A-Za-z0-9_-]{0,36}", fullmatch=True),
)


@given(requests)
def test_order_request_round_trips_through_the_wire(req: OrderRequest) -> None:
    body = orders.encode_order_request(req)
    assert all(isinstance(body[k], str) for k in ("qty", "price"))
    decoded = orders.decode_order_request(json.loads(json.dumps(body)))
    assert decoded == req


def test_encoders_never_print_exponents(fixtures_dir: Path) -> None:
    item = rest(fixtures_dir, "ccxt_execution_list_linear_trade.json")["list"][0]
    ex = orders.parse_execution(item, Category.LINEAR)
    tiny = dataclasses.replace(ex, exec_fee=Decimal("9.99E-7"), exec_value=Decimal("1E+2"))
    wire = orders.encode_execution(tiny)
    assert (wire["execFee"], wire["execValue"]) == ("0.000000999", "100")
