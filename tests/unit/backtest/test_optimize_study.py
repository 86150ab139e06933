"""Optimisation studies in one process: seeded and repeatable, pruning, grid, Pareto, resume, join, folds."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optimizekit import write_wave

import bst.backtest
from bst.backtest.optimize import (
    MarketData,
    SamplerKind,
    StudyAccess,
    TrialJob,
    build_space,
    optimize,
    parse_objectives,
    sqlite_url,
    write_outputs,
)
from bst.backtest.optimize.analysis import _dominates
from bst.backtest.optimize.trials import KEY_METRICS
from bst.domain.errors import ConfigError
from bst.strategies import SmaCrossParams


def _job(data: Path, texts: list[str], objectives: str = "sharpe") -> TrialJob:
    space = build_space(SmaCrossParams, [*texts, "qty=1"])
    market = MarketData(("WAVE",), data.parent, data_file=data)
    return TrialJob("sma_cross", market, space, parse_objectives(objectives))


def _access(tmp: Path, name: str = "s") -> StudyAccess:
    return StudyAccess(sqlite_url(tmp / f"{name}.db"), name, heartbeat_s=1, grace_s=3)


@pytest.fixture
def wave(tmp_path: Path) -> Path:
    return write_wave(tmp_path / "wave.csv", bars=400)


def _trials(access: StudyAccess) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=access.name, storage=access.storage).get_trials()


def test_a_seeded_study_repeats_its_trials_and_its_best_is_the_backtest_of_its_parameters(
    wave: Path, tmp_path: Path
) -> None:
    job = _job(wave, ["fast=3:15", "slow=16:40"])
    first = optimize(job, _access(tmp_path, "a"), trials=8, seed=7)
    second = optimize(job, _access(tmp_path, "b"), trials=8, seed=7)
    seen = [(t.params, t.values, t.state) for t in _trials(_access(tmp_path, "a"))]
    assert seen == [(t.params, t.values, t.state) for t in _trials(_access(tmp_path, "b"))]
    assert len(seen) == 8
    summary = first.summaries[0]
    assert summary.counts == {"complete": 8}
    values = [t.values[0] for t in summary.ranked]
    assert values == sorted(values, reverse=True)
    assert [t.rank for t in summary.ranked] == list(range(1, 9))
    best = summary.best
    assert best is not None
    assert best.texts == ("qty=1", f"fast={best.params['fast']}", f"slow={best.params['slow']}")
    assert set(best.metrics) == set(KEY_METRICS)
    direct = bst.backtest.run("sma_cross", "WAVE", data=wave, params=list(best.texts))
    assert first.best_run is not None
    assert first.best_run.info.metrics == direct.info.metrics
    assert direct.info.metrics["sharpe"] == best.values[0] == best.metrics["sharpe"]
    assert second.summaries[0].best == best
    assert set(summary.importances) == {"fast", "slow"}
    assert sum(summary.importances.values()) == pytest.approx(1.0)


def test_parameters_the_strategy_refuses_are_pruned_with_the_reason_and_count_towards_the_budget(
    wave: Path, tmp_path: Path
) -> None:
    access = _access(tmp_path)
    result = optimize(_job(wave, ["fast=10:30", "slow=5:20"]), access, trials=10, seed=3)
    summary = result.summaries[0]
    trials = _trials(access)
    assert len(trials) == 10
    pruned = [t for t in trials if t.state is optuna.trial.TrialState.PRUNED]
    assert pruned, "with fast in [10, 30] and slow in [5, 20] some draws put fast at or above slow"
    for t in pruned:
        assert t.params["fast"] >= t.params["slow"]
        assert t.user_attrs["pruned"] == f"fast ({t.params['fast']}) must be below slow ({t.params['slow']})"
    assert all(
        t.params["fast"] < t.params["slow"] for t in trials if t.state is optuna.trial.TrialState.COMPLETE
    )
    assert sorted(n for n, _ in summary.pruned) == [t.number for t in pruned]


def test_the_grid_runs_every_point_once_then_stops(wave: Path, tmp_path: Path) -> None:
    access = _access(tmp_path)
    job = _job(wave, ["fast=4:6", "slow=20:30:10"])
    optimize(job, access, trials=100, sampler=SamplerKind.GRID)
    points = sorted((t.params["fast"], t.params["slow"]) for t in _trials(access))
    assert points == sorted(itertools.product([4, 5, 6], [20, 30]))


def test_several_objectives_rank_the_pareto_front_first(wave: Path, tmp_path: Path) -> None:
    job = _job(wave, ["fast=3:15", "slow=16:60"], "return,drawdown")
    result = optimize(job, _access(tmp_path), trials=12, seed=5)
    assert result.definition["sampler"] == "nsga2"
    ranked = result.summaries[0].ranked
    objectives = job.objectives
    fronts = [t.front for t in ranked]
    assert fronts == sorted(fronts)
    first = [t for t in ranked if t.front == 1]
    assert first
    for t in first:
        assert not any(_dominates(objectives, o.values, t.values) for o in ranked)
    for t in ranked:
        if t.front > 1:
            assert any(_dominates(objectives, o.values, t.values) for o in ranked if o.front == t.front - 1)
    for t in ranked:
        assert t.values == (t.metrics["return_pct"], t.metrics["max_drawdown_pct"])


def test_a_study_resumes_to_a_larger_budget_and_refuses_another_definition(
    wave: Path, tmp_path: Path
) -> None:
    access = _access(tmp_path)
    job = _job(wave, ["fast=3:15", "slow=16:40"])
    optimize(job, access, trials=4, seed=1)
    before = [(t.number, t.params, t.values) for t in _trials(access)]
    resumed = optimize(job, access, seed=1)  # the stored budget: nothing more to run
    assert [(t.number, t.params, t.values) for t in _trials(access)] == before
    assert resumed.trials == 4
    optimize(job, access, trials=6, seed=1)
    after = _trials(access)
    assert len(after) == 6
    assert [(t.number, t.params, t.values) for t in after[:4]] == before
    with pytest.raises(ConfigError) as raised:
        optimize(_job(wave, ["fast=3:15", "slow=16:50"]), access, trials=6)
    assert str(raised.value) == (
        "study 's' exists with another space (['fast: int 3..15', 'slow: int 16..40'], "
        "not ['fast: int 3..15', 'slow: int 16..50']): choose another --study name, "
        "or give only --study (and --storage) to join it"
    )


def test_joining_takes_the_stored_definition_and_refuses_other_data(wave: Path, tmp_path: Path) -> None:
    access = _access(tmp_path)
    job = _job(wave, ["fast=3:15", "slow=16:40"])
    created = optimize(job, access, trials=3, seed=1, extra_definition={"note": "made here"})
    joined = optimize(job, access, trials=5, seed=None, join=True)
    assert joined.definition == created.definition
    assert created.definition["note"] == "made here"
    assert len(_trials(access)) == 5
    other = write_wave(tmp_path / "other.csv", bars=400, seed=2)
    with pytest.raises(ConfigError, match=r"^the market data here differs from study 's'"):
        optimize(_job(other, ["fast=3:15", "slow=16:40"]), access, join=True)
    with pytest.raises(
        ConfigError, match=r"^no study 'missing' in sqlite:///.*: give the strategy and symbols"
    ):
        optimize(job, _access(tmp_path, "missing"), join=True)


def test_walk_forward_optimises_each_fold_and_backtests_its_best_on_the_next_window(
    wave: Path, tmp_path: Path
) -> None:
    job = _job(wave, ["fast=3:10", "slow=12:30"])
    result = optimize(job, _access(tmp_path), trials=4, seed=2, walk_forward=2)
    assert [s.name for s in result.summaries] == ["s.fold1", "s.fold2"]
    assert result.best_run is None
    assert len(result.folds) == 2
    times = pd.read_csv(wave, index_col=0, parse_dates=True).index
    assert result.folds[0].fold.in_start_ms == int(times[0].value // 1_000_000)
    for f in result.folds:
        assert f.summary.counts == {"complete": 4}
        assert f.best is not None
        run = f.out_of_sample
        assert run is not None
        assert f.fold.out_start_ms <= run.info.start_ms < run.info.end_ms <= f.fold.out_end_ms
        direct = bst.backtest.run(
            "sma_cross",
            "WAVE",
            data=wave,
            params=list(f.best.texts),
            since=f.fold.out_start_ms,
            until=f.fold.out_end_ms,
        )
        assert run.info.metrics == direct.info.metrics
        in_sample = bst.backtest.run(
            "sma_cross",
            "WAVE",
            data=wave,
            params=list(f.best.texts),
            since=f.fold.in_start_ms,
            until=f.fold.in_end_ms,
        )
        assert in_sample.info.metrics["sharpe"] == f.best.values[0]


def test_the_outputs_hold_every_ranked_trial_the_importances_and_a_page_with_its_charts(
    wave: Path, tmp_path: Path
) -> None:
    result = optimize(_job(wave, ["fast=3:15", "slow=16:40"]), _access(tmp_path), trials=6, seed=4)
    files = write_outputs(result, tmp_path / "out", "a title")
    assert sorted(files) == ["importance", "page", "summary", "trials"]
    ranked = pd.read_csv(files["trials"])
    summary = result.summaries[0]
    assert list(ranked["trial"]) == [t.number for t in summary.ranked]
    assert list(ranked["sharpe"]) == pytest.approx([t.values[0] for t in summary.ranked], rel=1e-12)
    assert list(ranked.columns[:5]) == ["rank", "trial", "front", "sharpe", "fast"]
    importance = pd.read_csv(files["importance"])
    assert dict(zip(importance["parameter"], importance["importance"], strict=True)) == pytest.approx(
        summary.importances
    )
    page = files["page"].read_text()
    assert "Plotly.newPlot" in page
    assert 'id="importance-0"' in page
    assert 'id="heat-0"' in page
    figures = json.loads(page.split('id="bst-figures">')[1].split("</script>")[0].replace("<\\/", "</"))
    heat = next(f["figure"]["data"][0] for f in figures if f["id"] == "heat-0")
    assert summary.heat_map is not None
    assert heat["z"] == [list(row) for row in summary.heat_map.cells]
    best_cell = max(v for row in summary.heat_map.cells for v in row if v is not None)
    assert best_cell == summary.ranked[0].values[0]
    written = json.loads(files["summary"].read_text())
    assert written["studies"][0]["best"]["params"] == list(summary.ranked[0].texts)
    assert Decimal(str(written["studies"][0]["best"]["metrics"]["equity_final"])) > 0
