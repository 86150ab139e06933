"""The simulated exchange's core: matching against a market-data feed, accounts, positions, funding.

Pure Python, no I/O, deterministic: the same config, inputs and seed give the same ids, fills and
balances. `MatchingEngine` is the entry point; see its module `bst.engine.core`.
"""

from bst.engine.config import EngineConfig, FeeSchedule, LatencyModel, SymbolSpec
from bst.engine.core import MarketState, MatchingEngine
from bst.engine.events import AccountMessage

__all__ = [
    "AccountMessage",
    "EngineConfig",
    "FeeSchedule",
    "LatencyModel",
    "MarketState",
    "MatchingEngine",
    "SymbolSpec",
]
