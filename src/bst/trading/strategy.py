"""The strategy API: a plain class with typed parameters and synchronous callbacks.

    @dataclass(frozen=True)
    class MyParams(Params):
        period: int = param(20, low=5, high=200)

    class MyStrategy(Strategy[MyParams]):
        name = "my_strategy"

        def needs(self) -> DataNeeds:
            return DataNeeds(bars=(Interval.M15,))

        def on_bar(self, ctx: Context, bar: ConfirmedBar) -> None:
            if len(ctx.bars()) >= self.params.period and ctx.position_size() == 0:
                ctx.buy(Decimal("0.01"))

The runtime (`bst.trading.runtime`) calls the callbacks; every one receives the `Context`, the
strategy's only way to read the market and the account and to act. Callbacks are synchronous and
return quickly: order methods queue intents that the runtime sends after the callback returns.
The same object runs in a backtest, on `bst sim`, on testnet/demo and on mainnet.
"""

from __future__ import annotations

import re
import typing
from typing import ClassVar, Generic, TypeVar, cast

from bst.domain.errors import ConfigError
from bst.domain.events import TradesUpdate
from bst.domain.orders import Execution, Order
from bst.domain.portfolio import Position
from bst.trading.context import Context
from bst.trading.intents import IntentResult
from bst.trading.market_view import BookChange, ConfirmedBar, DataNeeds
from bst.trading.params import Params, param
from bst.trading.timers import TimerFired

__all__ = [
    "BookChange",
    "ConfirmedBar",
    "Context",
    "DataNeeds",
    "IntentResult",
    "Params",
    "Strategy",
    "TimerFired",
    "param",
]

P_co = TypeVar("P_co", bound=Params, covariant=True)


class Strategy(Generic[P_co]):
    """Base of every strategy: parameters of type `P_co`, callbacks that do nothing by default.

    Subclass as `Strategy[YourParams]` (the parameter type is read from there) and give the class a
    registry `name` (default: its name in snake case). Callbacks, in the order the runtime may call
    them: `on_start`, then per event `on_bar`, `on_book`, `on_trade`, `on_order`, `on_fill`,
    `on_position`, `on_timer`, `on_intent_failed`, and `on_stop` at the end.
    """

    name: ClassVar[str] = "strategy"
    params_type: ClassVar[type[Params]] = Params

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "params_type" not in cls.__dict__:
            declared = _declared_params(cls)
            if declared is not None:
                cls.params_type = declared
        if "name" not in cls.__dict__:
            cls.name = _snake(cls.__name__)

    def __init__(self, params: P_co | None = None) -> None:
        if params is None:
            params = cast(P_co, self.params_type())
        elif not isinstance(params, self.params_type):
            raise ConfigError(
                f"{type(self).__name__} takes {self.params_type.__name__}, got {type(params).__name__}"
            )
        self._params = params

    @property
    def params(self) -> P_co:
        """Return the strategy's parameters (frozen)."""
        return self._params

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._params!r})"

    def needs(self) -> DataNeeds:
        """Return the market data the strategy asks for (bar intervals, book depth, trades...)."""
        return DataNeeds()

    # --- callbacks (override what you need) ----------------------------------------------------

    def on_start(self, ctx: Context) -> None:
        """Prepare: indicators, timers. Called once before any event."""

    def on_bar(self, ctx: Context, bar: ConfirmedBar) -> None:
        """React to a closed candle of an interval the strategy asked for (already in `ctx.bars`)."""

    def on_book(self, ctx: Context, book: BookChange) -> None:
        """React to an order-book message (applied; `book.metrics` holds the analytics)."""

    def on_trade(self, ctx: Context, trades: TradesUpdate) -> None:
        """React to public trades (already in `ctx.metrics`)."""

    def on_order(self, ctx: Context, order: Order) -> None:
        """React to a new state of one of the run's orders (as the venue reports it)."""

    def on_fill(self, ctx: Context, fill: Execution) -> None:
        """React to a fill of one of the run's orders (each fill once; the position may follow)."""

    def on_position(self, ctx: Context, position: Position) -> None:
        """React to a changed position of a symbol of the run."""

    def on_timer(self, ctx: Context, timer: TimerFired) -> None:
        """React to a timer set with `ctx.set_timer` or `ctx.every`."""

    def on_intent_failed(self, ctx: Context, result: IntentResult) -> None:
        """React to an intent the venue refused, or whose outcome could not be established.

        `result.resolution`: REFUSED (nothing happened), NOT_FOUND (a submit whose every send was
        lost and the venue has no trace: nothing happened), UNKNOWN (it may have happened: the account
        feed will tell).
        """

    def on_stop(self, ctx: Context) -> None:
        """Wind down (cancel orders, close positions...). Called once at the end of the run."""


def _declared_params(cls: type) -> type[Params] | None:
    """Return `X` from a base written `Strategy[X]` (or `SomeStrategy[X]`), or None."""
    for base in cls.__dict__.get("__orig_bases__", ()):
        origin = typing.get_origin(base)
        if isinstance(origin, type) and issubclass(origin, Strategy):
            for arg in typing.get_args(base):
                if isinstance(arg, type) and issubclass(arg, Params):
                    return arg
    return None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
