"""A strategy cannot see the future: appending later data changes no earlier decision.

Each case runs a strategy over a market and over every cut of it (a prefix), through the runtime
and a paper venue, and asserts that the decisions (intents with their kinds, orderLinkIds, times and
requests) made while the prefix was fed are exactly those of the full run up to the same event.
By construction the context only shows what the events delivered so far said; this proves it for
every registered strategy. Add a case for each strategy added to `bst.strategies.STRATEGIES`: the
first test fails until the registry is covered.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runtime_kit import Decision, Driver, Script, klines

from bst.domain.events import KlineUpdate, MarketEvent
from bst.strategies import STRATEGIES, create_strategy
from bst.trading.context import Context
from bst.trading.market_view import ConfirmedBar
from bst.trading.params import Params
from bst.trading.strategy import Strategy


@dataclass(frozen=True)
class Case:
    """A registered strategy, how to build it, and a market that makes it decide often."""

    name: str
    make: Callable[[], Strategy[Params]]
    market: Callable[[], list[MarketEvent]]


def wavy_closes(count: int, seed: int = 3) -> list[str]:
    """Return closes that cross their own averages often: two waves and a deterministic wobble."""
    out = []
    for i in range(count):
        value = 1000 + 40 * math.sin(i / 6) + 15 * math.sin(i / 1.7 + seed) + (i * 7919 % 13)
        out.append(f"{value:.1f}")
    return out


CASES = [
    Case(
        "sma_cross",
        lambda: create_strategy("sma_cross", ["fast=3", "slow=8", "qty=0.01"]),
        lambda: list(klines(wavy_closes(160))),
    ),
    Case(
        "sma_cross",
        lambda: create_strategy("sma_cross", ["fast=5", "slow=13", "qty=0.002", "long_only=true"]),
        lambda: list(klines(wavy_closes(400, seed=9))),
    ),
]


@dataclass
class Run:
    """The decisions of one run; `made[k]`: how many were made before event k (after on_start at 0)."""

    decisions: list[Decision]
    made: list[int]


async def run(make: Callable[[], Strategy[Params]], events: Sequence[MarketEvent]) -> Run:
    driver = Driver(make())
    await driver.start()
    made = [len(driver.decisions)]
    for event in events:
        await driver.feed([event])
        made.append(len(driver.decisions))
    return Run(driver.decisions, made)


def first_difference(full: Run, prefix: Run, cut: int) -> tuple[int, Decision | None, Decision | None] | None:
    """Return where the prefix run's decisions differ from the full run's before event `cut`, or None."""
    expected = full.decisions[: full.made[cut]]
    for i in range(max(len(expected), len(prefix.decisions))):
        want = expected[i] if i < len(expected) else None
        got = prefix.decisions[i] if i < len(prefix.decisions) else None
        if want != got:
            return i, want, got
    return None


async def check(
    make: Callable[[], Strategy[Params]], events: Sequence[MarketEvent], cuts: Sequence[int]
) -> list[str]:
    """Return a line per cut whose prefix run decided differently from the full run."""
    full = await run(make, events)
    problems = []
    for cut in cuts:
        prefix = await run(make, events[:cut])
        difference = first_difference(full, prefix, cut)
        if difference is not None:
            problems.append(
                f"cut {cut}: decision {difference[0]} was {difference[1]} and became {difference[2]}"
            )
    return problems


def test_every_registered_strategy_has_a_case() -> None:
    assert {case.name for case in CASES} >= set(STRATEGIES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_appending_later_data_changes_no_earlier_decision(case: Case) -> None:
    events = case.market()
    full = await run(case.make, events)
    assert len(full.decisions) >= 10  # the market makes the strategy decide often enough to matter

    assert await check(case.make, events, range(0, len(events) + 1, 3)) == []


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(min_value=-30, max_value=30), min_size=20, max_size=90),
    st.integers(min_value=2, max_value=6),
    st.integers(min_value=1, max_value=10),
    st.data(),
)
def test_any_market_any_cut_sma_cross(steps: list[int], fast: int, extra: int, data: st.DataObject) -> None:
    closes, price = [], 1000
    for step in steps:
        price = max(100, price + step)
        closes.append(str(price))
    events = list(klines(closes))
    cut = data.draw(st.integers(min_value=0, max_value=len(events)))

    def make() -> Strategy[Params]:
        return create_strategy("sma_cross", {"fast": fast, "slow": fast + extra, "qty": Decimal("0.01")})

    assert asyncio.run(check(make, events, [cut])) == []


# --- the check can fail: a strategy handed the future by the test itself ------------------------


ORACLE: list[MarketEvent] = []
"""What the test feeds this run, in full: a strategy that reads it sees the future."""


def peek_at_the_last_close(ctx: Context, bar: object) -> None:
    assert isinstance(bar, ConfirmedBar)
    last = ORACLE[-1]
    assert isinstance(last, KlineUpdate)
    if bar.bar.close < last.bars[-1].bar.close:
        ctx.buy(Decimal("0.01"))


async def test_the_check_catches_a_strategy_that_sees_the_future() -> None:
    events = list(klines(["1000", "990", "1010", "1005", "995", "1020", "980"]))

    async def peeking_run(cut: int) -> Run:
        ORACLE[:] = events[:cut]
        return await run(lambda: Script(on_bar=peek_at_the_last_close), events[:cut])

    full = await peeking_run(len(events))
    prefix = await peeking_run(3)

    assert first_difference(full, prefix, 3) is not None
    honest = await check(
        lambda: create_strategy("sma_cross", ["fast=2", "slow=3", "qty=0.01"]), events, range(8)
    )
    assert honest == []
