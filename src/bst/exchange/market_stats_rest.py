"""Public market statistics: funding-rate history and open interest (mixed into `BybitRestClient`)."""

from __future__ import annotations

from bst.bybit import endpoints as ep
from bst.bybit.codec import market_stats as codec
from bst.domain.errors import BybitInvalidParameterError
from bst.domain.market import Category
from bst.domain.market_stats import FundingRateRecord, OpenInterest, OpenInterestInterval
from bst.exchange.http import BybitHttp, Params

MAX_PAGES = 200
_PERPETUAL = (Category.LINEAR, Category.INVERSE)


def _check_perpetual(category: Category) -> None:
    if category not in _PERPETUAL:
        raise BybitInvalidParameterError(
            f"funding and open interest exist for linear and inverse contracts, not {category.value}"
        )


class MarketStatsMixin:
    """Funding history and open interest; mixed into `BybitRestClient`."""

    http: BybitHttp

    async def get_funding_history(
        self,
        category: Category,
        symbol: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = ep.FUNDING_HISTORY_MAX_LIMIT,
    ) -> list[FundingRateRecord]:
        """Return up to `limit` (1..200) funding settlements, oldest first.

        Bybit answers the latest records up to `end_ms` (default now) back to `start_ms`; a
        `start_ms` needs an `end_ms` (Bybit refuses it alone).
        """
        _check_perpetual(category)
        if not 1 <= limit <= ep.FUNDING_HISTORY_MAX_LIMIT:
            raise BybitInvalidParameterError(f"limit must be between 1 and {ep.FUNDING_HISTORY_MAX_LIMIT}")
        if start_ms is not None and end_ms is None:
            raise BybitInvalidParameterError("a funding-history start needs an end too")
        params: Params = {
            "category": category.value,
            "symbol": symbol,
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": limit,
        }
        env = await self.http.call(ep.FUNDING_HISTORY, params)
        return sorted(codec.parse_funding_history(env.result), key=lambda r: r.funding_time_ms)

    async def get_open_interest(
        self,
        category: Category,
        symbol: str,
        interval: OpenInterestInterval,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = ep.OPEN_INTEREST_MAX_LIMIT,
    ) -> list[OpenInterest]:
        """Return open interest at each `interval` start in [start_ms, end_ms], oldest first.

        Without `start_ms` one page of up to `limit` (1..200) points; with it, every page back to it.
        """
        _check_perpetual(category)
        if not 1 <= limit <= ep.OPEN_INTEREST_MAX_LIMIT:
            raise BybitInvalidParameterError(f"limit must be between 1 and {ep.OPEN_INTEREST_MAX_LIMIT}")
        found: list[OpenInterest] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            params: Params = {
                "category": category.value,
                "symbol": symbol,
                "intervalTime": interval.value,
                "startTime": start_ms,
                "endTime": end_ms,
                "limit": limit,
                "cursor": cursor or None,
            }
            env = await self.http.call(ep.OPEN_INTEREST, params)
            points, cursor = codec.parse_open_interest(env.result)
            found.extend(points)
            if start_ms is None or not cursor or not points:
                return sorted(found, key=lambda p: p.ts_ms)
        raise BybitInvalidParameterError(f"open interest: more than {MAX_PAGES} pages; narrow the range")
