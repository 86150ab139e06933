"""The simulated exchange's core: matching against a market-data feed, accounts, positions, funding.

Pure Python, no I/O, deterministic: the same config, inputs and seed give the same ids, fills and
balances. `MatchingEngine` is the entry point (see `bst.engine.core`); it takes the domain's market
events (`apply`), merged from several sources by `Feeder`, and speaks the private stream's account
events (`AccountMessage`).
"""

from bst.engine.config import BarFill, EngineConfig, FeeSchedule, LatencyModel, SymbolSpec
from bst.engine.core import MarketState, MatchingEngine
from bst.engine.events import AccountMessage
from bst.engine.feeder import Feeder, merge_events

__all__ = [
    "AccountMessage",
    "BarFill",
    "EngineConfig",
    "FeeSchedule",
    "Feeder",
    "LatencyModel",
    "MarketState",
    "MatchingEngine",
    "SymbolSpec",
    "merge_events",
]
