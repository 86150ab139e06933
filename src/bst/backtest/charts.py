"""The report's charts as plotly.js figure specs (plain dicts: data + layout), drawn in the browser.

Figures are built here as data, not with plotly's Python objects: the report only needs plotly's
JavaScript (`bst.backtest.report` embeds it) and the specs stay small, typed and deterministic.
Times are epoch milliseconds on date axes (plotly reads them as UTC).

What is drawn is thinned so a year of minute data stays a few MB (`LINE_POINTS`, `MARKER_TRADES`;
prices are already bars from `bst.backtest.prices`); lines keep each bucket's lowest and highest
point, so the deepest drawdown and the equity peak drawn are the ones computed. Every cut is
recorded in `Drawing.notes` and printed in the report.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["LINE_POINTS", "MARKER_TRADES", "Drawing", "equity_figure", "symbol_figure", "thin_line"]

LINE_POINTS = 6000
"""Points drawn per line at most (equity, drawdown, position size)."""
MARKER_TRADES = 3000
"""Trades marked per symbol chart at most."""

_GREEN = "#1a9850"
_RED = "#d73027"
_BLUE = "#2c7fb8"
_GREY = "#7f7f7f"


@dataclass(slots=True)
class Drawing:
    """What the charts left out (one line per cut), printed under the charts."""

    notes: list[str] = field(default_factory=list)


def _ms(index: pd.Index | pd.Series) -> np.ndarray:
    """Return datetimes as epoch milliseconds."""
    return np.asarray(pd.DatetimeIndex(index).as_unit("ms").asi8, dtype="int64")


def thin_line(
    times_ms: np.ndarray, values: np.ndarray, limit: int = LINE_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Return at most about `limit` points of a line: each bucket's first, lowest, highest and last point.

    Keeps the line's extremes (a drawn drawdown is as deep as the computed one) and its ends.
    """
    n = len(values)
    if n <= limit:
        return times_ms, values
    buckets = max(1, limit // 4)
    edges = np.linspace(0, n, buckets + 1).astype("int64")
    keep: list[int] = []
    for lo, hi in itertools.pairwise(edges):
        if hi <= lo:
            continue
        part = values[lo:hi]
        keep.extend((int(lo), int(lo + np.argmin(part)), int(lo + np.argmax(part)), int(hi - 1)))
    index = np.unique(np.asarray(keep, dtype="int64"))
    return times_ms[index], values[index]


def _axis(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "automargin": True, **extra}


def equity_figure(equity: pd.DataFrame, coin: str, drawing: Drawing) -> dict[str, Any]:
    """Return the equity curve over the drawdown (two rows, one time axis)."""
    times = _ms(equity.index)
    values = equity["equity"].to_numpy(dtype="float64")
    drawdown = equity["drawdown_pct"].to_numpy(dtype="float64")
    eq_t, eq_v = thin_line(times, values)
    dd_t, dd_v = thin_line(times, drawdown)
    if len(eq_t) < len(times):
        drawing.notes.append(
            f"equity and drawdown: {len(times):,} samples drawn as {len(eq_t):,} and {len(dd_t):,} points "
            "(each bucket's first, lowest, highest and last)"
        )
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"equity ({coin})",
            "x": eq_t,
            "y": eq_v,
            "line": {"color": _BLUE, "width": 1.5},
            "xaxis": "x",
            "yaxis": "y",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "drawdown (%)",
            "x": dd_t,
            "y": dd_v,
            "fill": "tozeroy",
            "line": {"color": _RED, "width": 1},
            "xaxis": "x",
            "yaxis": "y2",
        },
    ]
    layout = {
        "height": 480,
        "margin": {"l": 60, "r": 20, "t": 30, "b": 40},
        "showlegend": True,
        "legend": {"orientation": "h", "y": 1.08},
        "hovermode": "x unified",
        "xaxis": {"type": "date", "anchor": "y2"},
        "yaxis": _axis(f"equity ({coin})", domain=[0.38, 1.0]),
        "yaxis2": _axis("drawdown (%)", domain=[0.0, 0.3]),
    }
    return {"data": data, "layout": layout}


def _markers(trades: pd.DataFrame, symbol: str, drawing: Drawing) -> list[dict[str, Any]]:
    """Return entry and exit markers of a symbol's trades, and a line joining each pair."""
    if trades.empty:
        return []
    step = max(1, -(-len(trades) // MARKER_TRADES))
    shown = trades.iloc[::step]
    if step > 1:
        drawing.notes.append(
            f"{symbol}: {len(shown):,} of {len(trades):,} trades marked (every {step}th); the table and "
            "trades.parquet have all"
        )
    entry_t, exit_t = _ms(shown["entry_time"]), _ms(shown["exit_time"])
    entry_p = shown["entry_price"].to_numpy(dtype="float64")
    exit_p = shown["exit_price"].to_numpy(dtype="float64")
    longs = (shown["side"] == "long").to_numpy()
    pnl = shown["pnl"].to_numpy(dtype="float64")
    text = [
        f"{side} {qty:g} @ {ep:g} -> {xp:g}<br>PnL {p:,.4f} ({r:.2f} %)"
        for side, qty, ep, xp, p, r in zip(
            shown["side"], shown["qty"], entry_p, exit_p, pnl, shown["return_pct"], strict=True
        )
    ]
    text_arr = np.asarray(text, dtype=object)

    def points(
        mask: np.ndarray, times: np.ndarray, prices: np.ndarray, name: str, marker: dict[str, Any]
    ) -> Any:
        return {
            "type": "scatter",
            "mode": "markers",
            "name": name,
            "x": times[mask],
            "y": prices[mask],
            "text": text_arr[mask].tolist(),
            "hoverinfo": "text+x",
            "marker": {"size": 9, **marker},
            "xaxis": "x",
            "yaxis": "y",
        }

    joins_x: list[Any] = []
    joins_y: list[Any] = []
    for t0, t1, p0, p1 in zip(entry_t, exit_t, entry_p, exit_p, strict=True):
        joins_x += [int(t0), int(t1), None]
        joins_y += [float(p0), float(p1), None]
    return [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "trade",
            "x": joins_x,
            "y": joins_y,
            "line": {"color": _GREY, "width": 1, "dash": "dot"},
            "hoverinfo": "skip",
            "xaxis": "x",
            "yaxis": "y",
        },
        points(longs, entry_t, entry_p, "long entry", {"symbol": "triangle-up", "color": _GREEN}),
        points(~longs, entry_t, entry_p, "short entry", {"symbol": "triangle-down", "color": _RED}),
        points(pnl > 0, exit_t, exit_p, "exit (win)", {"symbol": "x", "color": _GREEN}),
        points(pnl <= 0, exit_t, exit_p, "exit (loss)", {"symbol": "x", "color": _RED}),
    ]


def _position_line(positions: pd.DataFrame, symbol: str, end_ms: int, drawing: Drawing) -> dict[str, Any]:
    """Return the symbol's signed position size as a step line."""
    mine = positions[positions["symbol"] == symbol]
    times = _ms(mine["time"])
    sizes = mine["size"].to_numpy(dtype="float64")
    if len(times):
        times = np.r_[times, max(end_ms, int(times[-1]))]
        sizes = np.r_[sizes, sizes[-1]]
    thin_t, thin_s = thin_line(times, sizes)
    if len(thin_t) < len(times):
        drawing.notes.append(f"{symbol}: {len(times):,} position changes drawn as {len(thin_t):,} points")
    return {
        "type": "scatter",
        "mode": "lines",
        "name": "position",
        "x": thin_t,
        "y": thin_s,
        "line": {"shape": "hv", "color": _BLUE, "width": 1},
        "fill": "tozeroy",
        "xaxis": "x",
        "yaxis": "y2",
    }


def symbol_figure(
    symbol: str,
    prices: pd.DataFrame,
    trades: pd.DataFrame,
    positions: pd.DataFrame,
    *,
    candles: bool,
    end_ms: int,
    drawing: Drawing,
) -> dict[str, Any]:
    """Return a symbol's prices (candles, or a line for order-book runs) with its trades and position."""
    mine = prices[prices["symbol"] == symbol]
    times = _ms(mine["time"])
    data: list[dict[str, Any]] = []
    if candles:
        data.append(
            {
                "type": "candlestick",
                "name": symbol,
                "x": times,
                "open": mine["open"].to_numpy(dtype="float64"),
                "high": mine["high"].to_numpy(dtype="float64"),
                "low": mine["low"].to_numpy(dtype="float64"),
                "close": mine["close"].to_numpy(dtype="float64"),
                "increasing": {"line": {"color": _GREEN}},
                "decreasing": {"line": {"color": _RED}},
                "xaxis": "x",
                "yaxis": "y",
            }
        )
    else:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{symbol} price",
                "x": times,
                "y": mine["close"].to_numpy(dtype="float64"),
                "line": {"color": _GREY, "width": 1},
                "xaxis": "x",
                "yaxis": "y",
            }
        )
    counts = mine["bars"].to_numpy(dtype="int64") if len(mine) else np.zeros(0, "int64")
    if len(counts) and int(counts.max()) > 1:
        what = "data bars" if candles else "price samples"
        drawing.notes.append(
            f"{symbol}: {int(counts.sum()):,} {what} drawn as {len(mine):,} bars "
            f"of up to {int(counts.max()):,} each"
        )
    data.extend(_markers(trades[trades["symbol"] == symbol], symbol, drawing))
    data.append(_position_line(positions, symbol, end_ms, drawing))
    layout = {
        "height": 560,
        "margin": {"l": 60, "r": 20, "t": 30, "b": 40},
        "showlegend": True,
        "legend": {"orientation": "h", "y": 1.06},
        "hovermode": "closest",
        "xaxis": {"type": "date", "anchor": "y2", "rangeslider": {"visible": False}},
        "yaxis": _axis("price", domain=[0.3, 1.0]),
        "yaxis2": _axis("position", domain=[0.0, 0.22]),
    }
    return {"data": data, "layout": layout}
