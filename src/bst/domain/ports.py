"""Ports: the Protocols through which upper layers reach venues, feeds and storage.

One Protocol per port. Adapters satisfy them structurally; the composition root (`bst.app`) wires an
adapter into each port:

- `OrderGateway` and `AccountFeed`: the REST client with its private stream (mainnet, testnet, demo
  and `bst sim` over loopback), or the in-process matching engine (backtests). A strategy, the
  execution policy and the bot cannot tell which venue is behind them.
- `MarketFeed`: the public stream (live or `bst sim`), or recorded/stored market events replayed on
  a virtual clock.
- `KlineSource`/`KlineRowSource`: candles for the download engine (the REST client, the simulator).

Every adapter raises the one error tree of `bst.domain.errors`. A call whose reply was lost raises a
`BybitAPIError` with `outcome_unknown` True: the adapter reports it and never decides for the caller
(it neither re-sends nor looks the order up); `bst.trading.execution` decides.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bst.domain.account_events import AccountEvent
from bst.domain.events import MarketEvent
from bst.domain.instrument import Instrument
from bst.domain.market import Bar, Category, Interval
from bst.domain.orders import AmendRequest, Execution, Order, OrderAck, OrderFilter, OrderRequest
from bst.domain.portfolio import Position, WalletBalance


class OrderGateway(Protocol):
    """A venue's trading API: orders, and the account state they change.

    Requests act on the exchange's books; their outcome arrives as account events on the venue's
    `AccountFeed` (and can be read back with the queries). Refusals raise `BybitAPIError`
    subclasses with the venue's retCode: `BybitOrderNotFoundError` when the order does not exist or
    is already closed, `BybitDuplicateOrderError` when the orderLinkId was used before.
    """

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Send one order (with its orderLinkId, already on the instrument's grid); return its ids.

        A lost reply raises with `outcome_unknown` True: the order may exist. Sending the same
        orderLinkId again is then safe: the venue refuses a duplicate.
        """
        ...

    async def amend_order(self, request: AmendRequest) -> OrderAck:
        """Change an open order's qty, price, TP/SL or trigger price."""
        ...

    async def cancel_order(
        self,
        category: Category,
        symbol: str,
        *,
        order_id: str = "",
        order_link_id: str = "",
        order_filter: OrderFilter | None = None,
    ) -> OrderAck:
        """Cancel one open order, by orderId (wins) or orderLinkId.

        Spot finds a conditional or TP/SL order only under its `order_filter` (StopOrder, tpslOrder),
        as Bybit does; plain orders need none.
        """
        ...

    async def cancel_all_orders(
        self, category: Category, *, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[OrderAck]:
        """Cancel every open order of a symbol (or a settle coin); return what was cancelled."""
        ...

    async def get_open_orders(self, category: Category, *, symbol: str | None = None) -> list[Order]:
        """Return the open orders (of one symbol, or of the category), newest first."""
        ...

    async def find_order(
        self, category: Category, symbol: str, order_link_id: str = "", *, order_id: str = ""
    ) -> Order | None:
        """Return the order with this orderLinkId (or orderId), open or closed; None if the venue has none."""
        ...

    async def get_positions(self, category: Category, *, symbol: str | None = None) -> list[Position]:
        """Return a symbol's position (flat included) or every non-flat position of the category."""
        ...

    async def get_wallet_balance(self, *, coins: Sequence[str] = ()) -> WalletBalance:
        """Return the account's balances (coins named in `coins` even when zero)."""
        ...

    async def get_executions(
        self,
        category: Category,
        *,
        symbol: str | None = None,
        order_id: str | None = None,
        order_link_id: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Execution]:
        """Return fills and funding settlements, newest first."""
        ...

    async def get_instruments(self, category: Category, symbol: str | None = None) -> list[Instrument]:
        """Return the tradable instruments of a category (or the one named)."""
        ...


class AccountFeed(Protocol):
    """The account's events (orders, executions, positions, wallets) as the venue pushes them.

    Events are `bst.domain.account_events` values, the same whichever venue is behind the feed.
    Each (re)start first hands over the account's state (source RESYNC: recent fills, open and
    recently closed orders, positions, the wallet; the private stream needs its REST reader for it)
    and then a `ResyncEvent`; live events (source STREAM) follow in the venue's order.
    """

    async def start(self) -> None:
        """Begin delivering events (connect and authenticate, for a remote venue), hand-over first."""
        ...

    async def close(self) -> None:
        """Stop delivering events and release the connection."""
        ...

    def __aiter__(self) -> AsyncIterator[AccountEvent]:
        """Iterate over the events, oldest first, until closed."""
        ...


class MarketChannel(StrEnum):
    """What a market subscription delivers."""

    BOOK = "book"
    """Order-book snapshots and deltas (`BookUpdate`), `depth` levels a side."""
    TRADES = "trades"
    """Public trades (`TradesUpdate`)."""
    BARS = "bars"
    """Candles of `interval` (`KlineUpdate`)."""
    TICKER = "ticker"
    """Last/mark/index prices, funding rate and time (`TickerUpdate`)."""
    FUNDING = "funding"
    """Funding rates (`FundingUpdate`): a stored series, or derived from the live ticker when its
    rate or next settlement time changes (`bst.domain.feeds.FundingTracker`)."""


@dataclass(frozen=True, slots=True)
class MarketSubscription:
    """One venue-neutral market subscription; adapters translate it to their topic names."""

    channel: MarketChannel
    category: Category
    symbol: str
    depth: int = 0
    interval: Interval | None = None


class MarketFeed(Protocol):
    """Public market events (book updates, trades, bars, tickers) from a live or replayed market.

    Funding: `FUNDING` delivers `FundingUpdate`s on every venue (live ones derive them from the
    ticker, which carries the rate and the next settlement time).
    """

    async def subscribe(self, subscriptions: Sequence[MarketSubscription]) -> None:
        """Start delivering the events of `subscriptions`.

        A subscription the venue does not publish (a book depth it does not offer, bars without an
        interval) raises `ConfigError` before anything is sent; a live venue's own refusal raises
        `BybitInvalidParameterError`.
        """
        ...

    async def close(self) -> None:
        """Stop delivering events."""
        ...

    def __aiter__(self) -> AsyncIterator[MarketEvent]:
        """Iterate over the events in the venue's time order until closed."""
        ...


class KlineSource(Protocol):
    """Anything that returns exchange candles for a time range (the REST client, the simulator)."""

    async def fetch_klines(
        self,
        category: Category,
        symbol: str,
        interval: Interval,
        start_ms: int,
        end_ms: int,
        limit: int = 1000,
    ) -> list[Bar]:
        """Return the bars whose open time lies in [start_ms, end_ms], oldest first, at most `limit`."""
        ...


class KlineRowSource(KlineSource, Protocol):
    """A KlineSource that also hands over the exchange's kline rows unparsed (bulk downloads).

    Bulk history skips Decimal/Bar objects: the download engine parses the decimal strings
    straight into float columns for Parquet (about 0.4 µs a row) and keeps the same strings as
    exact values for SQL. The engine falls back to `fetch_klines` when a source lacks this.
    """

    async def fetch_kline_rows(
        self,
        category: Category,
        symbol: str,
        interval: Interval,
        start_ms: int,
        end_ms: int,
        limit: int = 1000,
    ) -> Sequence[Sequence[str]]:
        """Return the wire rows `[open_time_ms, open, high, low, close, volume, turnover]` (decimal
        strings as the exchange printed them) of the bars whose open time lies in [start_ms, end_ms],
        at most `limit`, in any order (Bybit sends newest first)."""
        ...
