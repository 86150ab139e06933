"""Fault settings and draws, rolling-window limits, per-UID limits and IP bans (no server)."""

from __future__ import annotations

import pytest

from bst.bybit.endpoints import RateGroup
from bst.domain.clock import ManualClock
from bst.domain.market import Category
from bst.sim.faults import FaultConfig, FaultConfigError, FaultInjector, FaultKind
from bst.sim.limits import SlidingWindowLimiter
from bst.sim.state import SimConfig, SimState

T0 = 1_717_243_230_500


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"error_rate": 1.5}, r"error_rate must be within \[0, 1\], got 1.5"),
        ({"error_rate": "NaN"}, r"error_rate must be a number within \[0, 1\]: not a finite number"),
        ({"error_rate": 0.6, "drop_rate": 0.6}, "add up to 1.200"),
        ({"latency_ms": -1}, r"latency_ms must be within \[0, 60000\], got -1"),
        ({"latency_ms": 1e308}, r"latency_ms must be a number within \[0, 60000\]: too large"),
        ({"latency_jitter_ms": "Infinity"}, "latency_jitter_ms must be a number .*: not a finite number"),
        ({"timeout_hold_s": 601}, r"timeout_hold_s must be within \[0, 600\], got 601"),
        ({"timeout_hold_s": "soon"}, "timeout_hold_s must be a number .*: not a number"),
        ({"http_5xx_codes": [404]}, "must be 5xx"),
        ({"error_codes": ["x"]}, "error_codes must be a whole number"),
        ({"error_codes": 10016}, "error_codes must be a list"),
        ({"seed": -1}, "seed must be a whole number"),
        ({"colour": "red"}, "unknown fault setting"),
        ({"script": ["explode"]}, "unknown fault kind 'explode' in script"),
        ({"script": ["ok"] * 10_001}, "script must hold at most 10000"),
    ],
)
def test_bad_fault_settings_are_refused_with_the_reason(changes: dict[str, object], message: str) -> None:
    with pytest.raises(FaultConfigError, match=message):
        FaultConfig().updated(changes)


def test_same_seed_draws_the_same_faults() -> None:
    config = FaultConfig(error_rate=0.2, http_5xx_rate=0.2, timeout_rate=0.1, drop_rate=0.1, seed=5)
    first, second = FaultInjector(config, 0), FaultInjector(config, 0)

    kinds = [first.decide("/v5/market/kline").kind for _ in range(300)]

    assert kinds == [second.decide("/v5/market/kline").kind for _ in range(300)]
    counts = {k: kinds.count(k) for k in FaultKind}
    assert 30 < counts[FaultKind.ERROR] < 90
    assert 30 < counts[FaultKind.HTTP_5XX] < 90
    assert 100 < counts[FaultKind.NONE] < 200
    assert counts[FaultKind.IP_BAN] == 0
    assert first.injected[FaultKind.ERROR.value] == counts[FaultKind.ERROR]


def test_a_script_runs_first_then_the_rates_apply() -> None:
    injector = FaultInjector(
        FaultConfig(script=(FaultKind.DROP, FaultKind.NONE, FaultKind.HTTP_5XX), http_5xx_codes=(503,)), 1
    )

    decisions = [injector.decide("/v5/market/time") for _ in range(4)]

    assert [d.kind for d in decisions] == [FaultKind.DROP, FaultKind.NONE, FaultKind.HTTP_5XX, FaultKind.NONE]
    assert decisions[2].code == 503


def test_faults_only_hit_the_configured_paths_and_latency_is_added() -> None:
    injector = FaultInjector(FaultConfig(error_rate=1.0, latency_ms=40, error_codes=(10000,)), 1)

    hit = injector.decide("/v5/market/kline")

    assert hit.kind is FaultKind.ERROR
    assert hit.code == 10000
    assert hit.latency_s == pytest.approx(0.04)
    assert injector.decide("/sim/admin/faults").kind is FaultKind.NONE


def test_sliding_window_refuses_when_full_and_frees_a_slot_per_expired_hit() -> None:
    clock = ManualClock(T0)
    limiter = SlidingWindowLimiter(3, 5.0, clock)

    decisions = []
    for _ in range(3):
        decisions.append(limiter.hit("1.2.3.4"))
        clock.advance(1.0)
    refused = limiter.hit("1.2.3.4")
    other_ip = limiter.hit("5.6.7.8")
    clock.advance(2.0)
    again = limiter.hit("1.2.3.4")
    refused_again = limiter.hit("1.2.3.4")

    assert [(d.allowed, d.remaining) for d in decisions] == [(True, 2), (True, 1), (True, 0)]
    assert decisions[0].reset_at_ms == T0
    assert decisions[2].reset_at_ms == T0 + 2000 + 3000
    assert (refused.allowed, refused.remaining, refused.reset_at_ms) == (False, 0, T0 + 5000)
    assert other_ip.allowed
    assert (again.allowed, again.remaining) == (True, 0)
    assert (refused_again.allowed, refused_again.reset_at_ms) == (False, T0 + 6000)
    assert refused.header_dict() == {
        "x-bapi-limit": "3",
        "x-bapi-limit-status": "0",
        "x-bapi-limit-reset-timestamp": str(T0 + 5000),
    }


def test_a_zero_limit_turns_the_limiter_off() -> None:
    limiter = SlidingWindowLimiter(0, 5.0, ManualClock(T0))

    assert all(limiter.hit("ip").allowed for _ in range(1000))
    assert not limiter.enabled


@pytest.mark.parametrize(
    ("group", "category", "per_second"),
    [
        (RateGroup.ORDER_CREATE, Category.LINEAR, 10),
        (RateGroup.ORDER_CREATE, Category.SPOT, 20),
        (RateGroup.ORDER_QUERY, Category.LINEAR, 50),
        (RateGroup.ORDER_AMEND, Category.SPOT, 10),
    ],
)
def test_uid_limits_follow_bybits_default_tier(group: RateGroup, category: Category, per_second: int) -> None:
    clock = ManualClock(T0)
    state = SimState(SimConfig(seed=1), clock)

    allowed = [state.check_uid_limit("uid-1", group, category).allowed for _ in range(per_second + 1)]
    other_uid = state.check_uid_limit("uid-2", group, category)
    clock.advance(1.0)
    after = state.check_uid_limit("uid-1", group, category)

    assert allowed == [True] * per_second + [False]
    assert other_uid.allowed
    assert after.allowed


def test_an_ip_ban_outlasts_the_window_and_reset_lifts_it() -> None:
    clock = ManualClock(T0)
    state = SimState(SimConfig(ip_limit_requests=2, ip_limit_window_s=1.0, ip_ban_s=60.0), clock)

    first = [state.check_ip("9.9.9.9").allowed for _ in range(3)]
    clock.advance(30.0)
    banned = state.check_ip("9.9.9.9")
    clock.advance(31.0)
    lifted = state.check_ip("9.9.9.9")

    assert first == [True, True, False]
    assert not banned.allowed
    assert banned.reset_at_ms == T0 + 60_000
    assert lifted.allowed
