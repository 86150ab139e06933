"""Optimisation of a strategy's parameters on backtests, with Optuna (`bst optimize`).

    from bst.backtest.optimize import (
        MarketData, StudyAccess, TrialJob, build_space, optimize, parse_objectives, sqlite_url,
    )
    space = build_space(SmaCrossParams, ["fast=5:50", "slow=20:200"])
    job = TrialJob("sma_cross", MarketData(("BTCUSDT",), data_dir, Interval.H1), space,
                   parse_objectives("sharpe"))
    result = optimize(job, StudyAccess(sqlite_url(path), "sma-h1"), trials=200, workers=2)
    result.summaries[0].ranked[:10], result.best_run.stats

Pieces: `space` (the strategy's declared parameters narrowed by `--param` ranges), `objectives`
(metrics and directions), `studies` (RDB storage: SQLite or PostgreSQL, heartbeats and retries
of dead workers' trials, the stored definition), `trials` (data loaded once, one backtest per
trial), `workers` (worker processes sharing one study and one budget), `walk_forward` (folds),
`analysis` (ranking, importance, heat map), `outputs` (CSV, JSON, the HTML page), `optimizer`
(`optimize`, the one call). Scripts that use more than one worker need the usual
`if __name__ == "__main__":` guard: workers are spawned processes. See docs/backtesting.md.
"""

from bst.backtest.optimize.analysis import HeatMap, RankedTrial, StudySummary, summarise
from bst.backtest.optimize.objectives import OBJECTIVES, Direction, Objective, parse_objectives
from bst.backtest.optimize.optimizer import FoldResult, OptimizeResult, load_definition, optimize
from bst.backtest.optimize.outputs import write_outputs
from bst.backtest.optimize.space import Dimension, SearchSpace, build_space
from bst.backtest.optimize.studies import SamplerKind, StudyAccess, safe_url, sqlite_url, storage_url
from bst.backtest.optimize.trials import LoadedMarket, MarketData, TrialJob, TrialRunner
from bst.backtest.optimize.walk_forward import Fold, walk_forward_folds

__all__ = [
    "OBJECTIVES",
    "Dimension",
    "Direction",
    "Fold",
    "FoldResult",
    "HeatMap",
    "LoadedMarket",
    "MarketData",
    "Objective",
    "OptimizeResult",
    "RankedTrial",
    "SamplerKind",
    "SearchSpace",
    "StudyAccess",
    "StudySummary",
    "TrialJob",
    "TrialRunner",
    "build_space",
    "load_definition",
    "optimize",
    "parse_objectives",
    "safe_url",
    "sqlite_url",
    "storage_url",
    "summarise",
    "walk_forward_folds",
    "write_outputs",
]
