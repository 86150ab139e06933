"""Public market statistics of the simulator: funding history, open interest, risk limits.

- `/v5/market/funding/history`: one record per funding settlement (every 8 h, 00/08/16 UTC) since
  listing, the rate being the generator's rate of the period that settlement closes: the rate the
  sim's engine charges at that instant (and the transaction log's SETTLEMENT rows show). Newest
  first; `startTime` alone is refused as Bybit refuses it; `endTime` alone gives the `limit` records
  up to it; neither, the latest.
- `/v5/market/open-interest`: the seeded curve of `bst.sim.open_interest` at the start of each
  `intervalTime` (5min ... 1d), newest first, from the interval holding `endTime` (default now) back
  to `startTime` or the listing; `cursor` pages on (it names the next interval, so pages do not shift
  as time moves on).
- `/v5/market/risk-limit`: each perpetual's one risk tier, the one the engine applies
  (`bst.engine.account_views.risk_tier`); without a symbol, 15 symbols a page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bst.bybit import endpoints
from bst.bybit.codec.market_stats import encode_funding_history, encode_open_interest, encode_risk_limits
from bst.domain.market import Category
from bst.domain.market_stats import FundingRateRecord, OpenInterest, OpenInterestInterval
from bst.engine.account_views import risk_tier
from bst.sim.open_interest import one_side, open_interest
from bst.sim.replies import (
    ParamError,
    category_param,
    cursor_param,
    encode_cursor,
    int_param,
    limit_param,
    required_param,
)
from bst.sim.routes_market import _answer, _listed_symbol
from bst.sim.state import SimState
from bst.sim.tickers import FUNDING_PERIOD_MS, funding_rate
from bst.sim.trading_desk import spec_for

_DERIVATIVES = (Category.LINEAR, Category.INVERSE)
_INTERVALS = {i.value: i for i in OpenInterestInterval}


class MarketStatsRoutes:
    """Handlers bound to one SimState."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    async def funding_history(self, request: Request) -> Response:
        """GET /v5/market/funding/history."""

        def work(now_ms: int) -> dict[str, Any]:
            category = category_param(request, _DERIVATIVES)
            symbol = _listed_symbol(self.state, request, category, now_ms)
            most = endpoints.FUNDING_HISTORY_MAX_LIMIT
            limit = limit_param(request, high=most, default=most)
            start = int_param(request, "startTime", low=0, high=None, default=None)
            end = int_param(request, "endTime", low=0, high=None, default=None)
            if start is not None and end is None:
                raise ParamError("params error: endTime is required when startTime is given")
            if start is not None and end is not None and start > end:
                raise ParamError("params error: startTime must not be after endTime")
            gen = self.state.generator
            path = gen.path(category, symbol)
            newest = min(now_ms, end if end is not None else now_ms) // FUNDING_PERIOD_MS * FUNDING_PERIOD_MS
            oldest = max(path.launch_minute_ms + 1, start if start is not None else 0)
            records: list[FundingRateRecord] = []
            at = newest
            while at >= oldest and len(records) < limit:
                rate = funding_rate(gen.seed, path.spec.key, at - 1)  # the period this settlement closes
                records.append(FundingRateRecord(symbol, rate, at))
                at -= FUNDING_PERIOD_MS
            return encode_funding_history(category, records)

        return await _answer(self.state, work)

    async def open_interest(self, request: Request) -> Response:
        """GET /v5/market/open-interest."""

        def work(now_ms: int) -> dict[str, Any]:
            category = category_param(request, _DERIVATIVES)
            symbol = _listed_symbol(self.state, request, category, now_ms)
            raw = required_param(request, "intervalTime")
            interval = _INTERVALS.get(raw)
            if interval is None:
                raise ParamError(f"params error: intervalTime invalid: use one of {', '.join(_INTERVALS)}")
            step = interval.ms
            limit = limit_param(
                request, high=endpoints.OPEN_INTEREST_MAX_LIMIT, default=endpoints.OPEN_INTEREST_DEFAULT_LIMIT
            )
            start = int_param(request, "startTime", low=0, high=None, default=None)
            end = int_param(request, "endTime", low=0, high=None, default=None)
            if start is not None and end is not None and start > end:
                raise ParamError("params error: startTime must not be after endTime")
            gen = self.state.generator
            listing = gen.path(category, symbol).launch_minute_ms
            newest = min(now_ms, end if end is not None else now_ms) // step * step
            if request.query_params.get("cursor"):
                newest = min(newest, cursor_param(request) * step)
            oldest = max(start if start is not None else 0, -(-listing // step) * step)
            points: list[OpenInterest] = []
            at = newest
            while at >= oldest and len(points) < limit:
                total = open_interest(gen, category, symbol, at)
                points.append(OpenInterest(at, total, one_side(gen, category, symbol, total)))
                at -= step
            cursor = encode_cursor(at // step) if at >= oldest else ""
            return encode_open_interest(category, symbol, points, cursor)

        return await _answer(self.state, work)

    async def risk_limit(self, request: Request) -> Response:
        """GET /v5/market/risk-limit."""

        def work(now_ms: int) -> dict[str, Any]:
            category = category_param(request, _DERIVATIVES)
            gen = self.state.generator
            if request.query_params.get("symbol"):
                symbols = [_listed_symbol(self.state, request, category, now_ms)]
            else:
                symbols = [i.symbol for i in gen.instruments(category, now_ms)]
            tiers = [risk_tier(spec_for(gen.instrument(category, s))) for s in symbols]
            offset, size = cursor_param(request), endpoints.RISK_LIMIT_PAGE  # Bybit takes no limit here
            more = offset + size < len(tiers)
            return encode_risk_limits(
                category, tiers[offset : offset + size], encode_cursor(offset + size) if more else ""
            )

        return await _answer(self.state, work)


def routes(state: SimState) -> Sequence[BaseRoute]:
    """Return the market-statistics routes."""
    handlers = MarketStatsRoutes(state)
    table: list[tuple[endpoints.Endpoint, Callable[[Request], Any]]] = [
        (endpoints.FUNDING_HISTORY, handlers.funding_history),
        (endpoints.OPEN_INTEREST, handlers.open_interest),
        (endpoints.RISK_LIMIT, handlers.risk_limit),
    ]
    return [Route(e.path, endpoint, methods=[e.method]) for e, endpoint in table]
