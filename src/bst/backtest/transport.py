"""The wire between a backtested strategy and the engine: every gateway call is a timed round trip.

`DelayedGateway` is the `OrderGateway` the strategy's execution policy talks to. It sends nothing
itself: each call becomes a `Call` handed to the runner, which delivers it to the engine's
`EngineGateway` after the request latency and hands the answer (or the refusal) back after the
response latency, on the run's virtual clock (`bst.backtest.runner`). So a strategy that sends an
order, then a cancel, sees exactly what a live one would: the cancel reaches the engine later, and
if the order filled meanwhile, the cancel is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from bst.domain.errors import BstError
from bst.domain.instrument import Instrument
from bst.domain.market import Category
from bst.domain.orders import AmendRequest, Execution, Order, OrderAck, OrderFilter, OrderRequest
from bst.domain.portfolio import Position, WalletBalance
from bst.engine.gateway import EngineGateway

__all__ = ["Call", "DelayedGateway"]


@dataclass(slots=True)
class Call:
    """One gateway call on its way: which `EngineGateway` method, its arguments, and who waits."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: asyncio.Future[Any]
    sent_ms: int = 0
    answer: Any = None
    error: BaseException | None = None
    answered: bool = field(default=False)

    async def run_on(self, gateway: EngineGateway) -> None:
        """Make the call on the engine's gateway and keep its answer or its refusal."""
        method = getattr(gateway, self.method)
        try:
            self.answer = await method(*self.args, **self.kwargs)
        except BstError as e:  # a refusal is an answer too: the caller gets it as from a venue
            self.error = e
        self.answered = True

    def deliver(self) -> None:
        """Hand the answer (or refusal) to the waiting caller."""
        if self.future.done():
            return
        if self.error is not None:
            self.future.set_exception(self.error)
        else:
            self.future.set_result(self.answer)


class DelayedGateway:
    """An `OrderGateway` whose calls travel through the run's queue (see the module docstring)."""

    def __init__(self, post: Callable[[Call], None]) -> None:
        self._post = post
        self.waiting = 0
        """Calls sent whose answer has not been handed back yet."""

    def answer(self, call: Call) -> None:
        """Hand a call's answer back to its caller (the caller resumes at its next turn of the loop)."""
        self.waiting -= 1
        call.deliver()

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting += 1
        self._post(Call(method, args, kwargs, future))
        return await future

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Send an order; return the engine's ack after the round trip."""
        return cast(OrderAck, await self._call("place_order", request))

    async def amend_order(self, request: AmendRequest) -> OrderAck:
        """Send an amendment."""
        return cast(OrderAck, await self._call("amend_order", request))

    async def cancel_order(
        self,
        category: Category,
        symbol: str,
        *,
        order_id: str = "",
        order_link_id: str = "",
        order_filter: OrderFilter | None = None,
    ) -> OrderAck:
        """Send a cancel."""
        answer = await self._call(
            "cancel_order",
            category,
            symbol,
            order_id=order_id,
            order_link_id=order_link_id,
            order_filter=order_filter,
        )
        return cast(OrderAck, answer)

    async def cancel_all_orders(
        self, category: Category, *, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[OrderAck]:
        """Send a cancel-all."""
        answer = await self._call("cancel_all_orders", category, symbol=symbol, settle_coin=settle_coin)
        return cast(list[OrderAck], answer)

    async def get_open_orders(self, category: Category, *, symbol: str | None = None) -> list[Order]:
        """Ask for the open orders."""
        return cast(list[Order], await self._call("get_open_orders", category, symbol=symbol))

    async def find_order(
        self, category: Category, symbol: str, order_link_id: str = "", *, order_id: str = ""
    ) -> Order | None:
        """Look an order up."""
        answer = await self._call("find_order", category, symbol, order_link_id, order_id=order_id)
        return cast(Order | None, answer)

    async def get_positions(self, category: Category, *, symbol: str | None = None) -> list[Position]:
        """Ask for positions."""
        return cast(list[Position], await self._call("get_positions", category, symbol=symbol))

    async def get_wallet_balance(self, *, coins: Sequence[str] = ()) -> WalletBalance:
        """Ask for the wallet."""
        return cast(WalletBalance, await self._call("get_wallet_balance", coins=coins))

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
        """Ask for executions."""
        answer = await self._call(
            "get_executions",
            category,
            symbol=symbol,
            order_id=order_id,
            order_link_id=order_link_id,
            start_ms=start_ms,
            end_ms=end_ms,
        )
        return cast(list[Execution], answer)

    async def get_instruments(self, category: Category, symbol: str | None = None) -> list[Instrument]:
        """Ask for instruments."""
        return cast(list[Instrument], await self._call("get_instruments", category, symbol))
