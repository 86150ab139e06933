"""Every modelling assumption of a run, in words: printed in the summary, saved in `run.json`."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bst.backtest.config import BacktestConfig, CandleFill
from bst.domain.instrument import Instrument

__all__ = ["describe_assumptions", "describe_config"]


def _pct(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f} %"


def describe_fees(config: BacktestConfig) -> str:
    """Return the fees charged, in one line."""
    if config.commission is not None:
        return f"commission {_pct(config.commission)} of the value per side, makers and takers alike"
    fees = config.fee_schedule()
    tier = " (Bybit's base tier)" if config.fees is None else ""
    return f"linear taker {_pct(fees.linear_taker)}, maker {_pct(fees.linear_maker)} of the value{tier}"


def describe_config(config: BacktestConfig) -> dict[str, str]:
    """Return the run's settings as text (the `config` of `run.json`)."""
    return {
        "cash": f"{config.cash} {config.settle_coin}",
        "leverage": f"{config.leverage}",
        "fees": describe_fees(config),
        "fill": config.fill.value,
        "slippage": _pct(config.slippage),
        "feed_latency": config.feed_latency.describe(),
        "request_latency": config.request_latency.describe(),
        "response_latency": config.response_latency.describe(),
        "queue_model": "on" if config.queue_model else "off",
        "close_at_end": "yes" if config.close_at_end else "no",
        "equity_step_ms": str(config.equity_step_ms) if config.equity_step_ms else "auto",
        "seed": str(config.seed),
        "returns_period": config.metrics.period,
        "risk_free_rate": f"{config.metrics.risk_free_rate * 100:g} %",
    }


def describe_assumptions(
    config: BacktestConfig,
    *,
    candles: bool,
    books: bool,
    inferred: Sequence[Instrument],
    unfunded: Sequence[str],
) -> tuple[str, ...]:
    """Return one line per assumption the run's numbers rest on."""
    lines = []
    if candles:
        when = "the next bar's open" if config.fill is CandleFill.NEXT_OPEN else "the close of the bar seen"
        lines += [
            f"candles: market orders fill in full at {when} (no depth in a candle)",
            "candles: a bar moves open -> nearer extreme -> other extreme -> close (the low first on a "
            "tie when it closed at or above its open)",
            "candles: limit orders fill at their own price when that path reaches them, up to the bar's "
            "volume per print; stops (TP/SL) at their own price when touched inside a bar, at the open "
            "when the bar opens beyond them",
        ]
        if config.slippage:
            lines.append(
                f"slippage: candle taker fills {_pct(config.slippage)} against the order, on the tick grid"
            )
        else:
            lines.append("slippage: none")
    if books:
        queue = (
            "after the volume ahead of them at their price has traded" if config.queue_model else "at once"
        )
        lines += [
            "order books: takers walk the recorded book's levels; user orders never enter the book",
            f"order books: resting orders fill {queue} (queue model), partially as trades reach them",
        ]
    lines.append(f"fees: {describe_fees(config)}")
    lines.append(
        "latency: feed "
        f"{config.feed_latency.describe()}, request {config.request_latency.describe()}, response "
        f"{config.response_latency.describe()}"
    )
    lines.append(
        f"account: {config.cash} {config.settle_coin}, leverage {config.leverage}x, cross margin; liquidated "
        "at the maintenance margin (first risk tier)"
    )
    for instrument in inferred:
        lines.append(
            f"{instrument.symbol}: no exchange instrument; tick {instrument.tick_size} inferred from the "
            f"data, lot {instrument.qty_step}, no minimum size or value"
        )
    if unfunded:
        lines.append(
            f"funding: none for {', '.join(unfunded)} (no funding history stored: "
            "`bst download --funding` fetches it)"
        )
    lines.append(
        "funding: charged at each settlement of the history, on the position then held, at the last price"
    )
    if config.close_at_end:
        lines.append("end: open orders cancelled and positions closed at the last price when the data ends")
    else:
        lines.append("end: positions left open are valued at the last price")
    lines.append(config.metrics.describe())
    return tuple(lines)
