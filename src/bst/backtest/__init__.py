"""Backtests: a strategy over recorded or stored market data against the in-process matching engine.

    import bst.backtest
    result = bst.backtest.run("sma_cross", "BTCUSDT", interval="60", since="2024-01-01")
    result.stats, result.trades, result.equity

The runner (`bst.backtest.runner`) drives the same strategy runtime a live bot uses, on a virtual
clock, through the same `OrderGateway` port, with latency models for the feed, the requests and the
replies; candle runs fill market orders at the next open (or the close) and limits and stops along
each bar's path. Results are exact Decimal ledgers (`BacktestResult.ledger`) with pandas frames
and metrics on top, saved under `<data dir>/backtests/<run-id>/` (`bst.backtest.runs`).
See docs/backtesting.md.
"""

from bst.backtest.api import run, run_async
from bst.backtest.config import BacktestConfig, CandleFill
from bst.backtest.latency import ConstantLatency, JitterLatency, Latency, RecordedLatency, parse_latency
from bst.backtest.result import BacktestResult, Ledger, RoundTrip, RunInfo
from bst.backtest.runs import list_runs, load_run

__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "CandleFill",
    "ConstantLatency",
    "JitterLatency",
    "Latency",
    "Ledger",
    "RecordedLatency",
    "RoundTrip",
    "RunInfo",
    "list_runs",
    "load_run",
    "parse_latency",
    "run",
    "run_async",
]
