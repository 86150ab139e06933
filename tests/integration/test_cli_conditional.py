"""`bst order buy|sell ... --trigger PRICE [--trigger-by last|mark|index]` against a `bst sim`."""

from __future__ import annotations

import json

from test_cli_trading import bst
from test_cli_trading import trading_sim as cli_sim  # a fixture: registered under this name

from bst.sim.server import SimServer

__all__ = ["cli_sim"]


def test_a_trigger_order_from_the_command_line_waits_untriggered(cli_sim: SimServer) -> None:
    below = bst(cli_sim, "order", "buy", "BTCUSDT", "0.01", "--trigger", "50000", "--link-id", "cli-stop-1")
    above = bst(
        cli_sim,
        "order",
        "sell",
        "BTCUSDT",
        "0.01",
        "--limit",
        "300000",
        "--trigger",
        "250000",
        "--trigger-by",
        "mark",
        "--link-id",
        "cli-stop-2",
    )
    open_orders = json.loads(bst(cli_sim, "orders", "--json").stdout)
    cancelled = bst(cli_sim, "order", "cancel", "BTCUSDT", "--link-id", "cli-stop-1")
    closed = json.loads(bst(cli_sim, "orders", "--history", "--json").stdout)
    bad = bst(cli_sim, "order", "buy", "BTCUSDT", "0.01", "--trigger", "50000", "--trigger-by", "bid")

    assert below.returncode == 0, below.stderr
    assert "orderLinkId=cli-stop-1 status=Untriggered" in below.stdout  # not filled at the market
    assert above.returncode == 0, above.stderr
    assert "orderLinkId=cli-stop-2 status=Untriggered" in above.stdout
    assert {o["orderLinkId"]: o["status"] for o in open_orders} == {
        "cli-stop-1": "Untriggered",
        "cli-stop-2": "Untriggered",
    }
    assert cancelled.returncode == 0, cancelled.stderr
    assert {o["orderLinkId"]: o["status"] for o in closed}["cli-stop-1"] == "Deactivated"
    assert bad.returncode == 2  # a usage error
    assert bad.stderr.strip() == "error: invalid --trigger-by 'bid': use last, mark or index"
