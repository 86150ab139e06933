"""The engine rounds with the domain's one rounding (`instrument.to_step`), always inside the limits."""

from __future__ import annotations

from enginekit import SYMBOL, T0, D, make_engine, market, set_book

from bst.domain.market import Category, Side


def test_market_protection_rounds_inside_the_band_on_both_sides() -> None:
    engine = make_engine(slippage="0.05")
    uid = engine.open_account({"USDT": D(100_000)})
    engine.on_mark_price(SYMBOL, D("50000.3"), T0)
    set_book(engine, [("40000", "1")], [("60000", "1")])  # nothing inside the band: both cancel unfilled

    engine.place_order(uid, market(Side.BUY, "0.01"))
    engine.place_order(uid, market(Side.SELL, "0.01"))

    limits = {o.side: o.price for o in engine.closed_orders(uid, Category.LINEAR)}
    # 50000.3 x 1.05 = 52500.315 -> down to 52500.3; 50000.3 x 0.95 = 47500.285 -> up to 47500.3
    assert limits == {Side.BUY: D("52500.3"), Side.SELL: D("47500.3")}
