"""Batches and mode switches go through the desk's journal: they survive JSON and a crash exactly.

A batch is one journaled command holding its items' own commands; a restarted desk replays it to
the same orders, fills and books (closed PnL, transaction log) as the uninterrupted one. Mode
switches are refused by the engine, journaled all the same, and change nothing.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_desk_recovery import (
    KEY,
    LINEAR,
    NOW,
    SYMBOL,
    advance,
    best,
    fingerprint,
    image,
    limit,
    make_desk,
    market,
    run,
    uid_of,
)

from bst.domain.account_info import MarginMode
from bst.domain.market import Side
from bst.domain.orders import AmendRequest
from bst.sim.trading_commands import (
    AmendOrder,
    BatchOrders,
    CancelOrder,
    SetMarginMode,
    SwitchPositionMode,
    command_from_json,
    command_to_json,
)
from bst.sim.trading_desk import TradingDesk


def test_new_commands_round_trip_through_json() -> None:
    batch = BatchOrders(
        (
            limit(Side.BUY, "0.01", Decimal("50000.5"), "b-1"),
            AmendOrder(AmendRequest(LINEAR, SYMBOL, order_link_id="b-1", price=Decimal("49000"))),
            CancelOrder(LINEAR, SYMBOL, order_link_id="b-1"),
        )
    )
    for command in (batch, SwitchPositionMode(3, coin="USDT"), SetMarginMode(MarginMode.PORTFOLIO)):
        assert command_from_json(orjson.loads(orjson.dumps(command_to_json(command)))) == command
    with pytest.raises(ValueError, match="creates, amends and cancels"):
        command_from_json({"op": "batch", "args": {"items": [command_to_json(SwitchPositionMode(0))]}})


def batch(desk: TradingDesk) -> Any:
    bid, ask = best(desk)
    return run(
        desk,
        BatchOrders(
            (
                limit(Side.BUY, "0.02", bid - 100, "batch-1"),
                market(Side.BUY, "0.01"),
                limit(Side.BUY, "0.02", bid - 100, "batch-1"),  # duplicate: refused alone
                limit(Side.SELL, "0.01", ask + 500, "batch-2"),
            )
        ),
    )


SCENARIO = [
    batch,
    lambda d: advance(d, 30),
    lambda d: run(
        d,
        BatchOrders(
            (
                AmendOrder(AmendRequest(LINEAR, SYMBOL, order_link_id="batch-2", price=best(d)[1] + 300)),
                AmendOrder(AmendRequest(LINEAR, SYMBOL, order_link_id="gone", price=best(d)[1])),
            )
        ),
    ),
    lambda d: run(d, SwitchPositionMode(0, symbol=SYMBOL)),
    lambda d: run(d, SetMarginMode(MarginMode.ISOLATED)),
    lambda d: run(d, SetMarginMode(MarginMode.CROSS)),
    lambda d: run(d, BatchOrders((market(Side.SELL, "0.01"),))),  # closes the position: a closed-PnL record
    lambda d: run(
        d,
        BatchOrders(
            (
                CancelOrder(LINEAR, SYMBOL, order_link_id="batch-1"),
                CancelOrder(LINEAR, SYMBOL, order_link_id="x"),
            )
        ),
    ),
]


def test_batches_and_refusals_recover_exactly(tmp_path: Path) -> None:
    state_file = tmp_path / "live" / "state.json"
    desk = make_desk(state_file)
    results = []
    crashes = []
    for number, op in enumerate(SCENARIO):
        results.append(op(desk))
        desk.wait_durable()
        crashes.append((image(state_file, tmp_path / f"crash-{number}"), fingerprint(desk)[0]))

    first = results[0]
    assert [i["code"] for i in first["items"]] == [0, 0, 110072, 0]
    assert first["items"][0]["createAt"] == NOW
    assert [i["code"] for i in results[2]["items"]] == [0, 110001]
    assert results[3:6] == ["refused 110025", {"reasons": results[4]["reasons"]}, "refused 110026"]
    assert results[4]["reasons"][0]["reasonCode"] == "3400045"
    assert [i["code"] for i in results[7]["items"]] == [0, 110001]
    uid = uid_of(desk)
    [record] = desk.engine.closed_pnl(uid)
    assert record.closed_size == Decimal("0.01")
    for path, expected in crashes:
        again = make_desk(path, NOW)
        assert fingerprint(again)[0] == expected, path.parent.name
    again = make_desk(crashes[-1][0], NOW)
    assert again.engine.closed_pnl(uid) == desk.engine.closed_pnl(uid)
    assert again.engine.transaction_log(uid) == desk.engine.transaction_log(uid)
    assert again.credentials(KEY) == desk.credentials(KEY)
