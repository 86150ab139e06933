"""SMA cross: the reference strategy, and the worked example of docs/strategies.md.

Two simple moving averages of the closes of one interval. When the fast one crosses above the slow
one, close any short and buy `qty`; when it crosses below, close any long and sell `qty` (with
`long_only`, just close the long). A cross is strict, as backtesting.py's `crossover`: the fast
average was below the slow one on the previous bar and is above it on this one.

With `fast=10, slow=20` and a fixed `qty` this is backtesting.py's `SmaCross` example
(`position.close(); buy(size=qty)` on a cross up, `position.close(); sell(size=qty)` on a cross
down), which the parity tests run against backtesting.py 0.6.6.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bst.domain.errors import ConfigError
from bst.domain.market import Interval
from bst.trading.context import Context
from bst.trading.indicators import SMA
from bst.trading.market_view import ConfirmedBar, DataNeeds
from bst.trading.params import Params, param
from bst.trading.strategy import Strategy


@dataclass(frozen=True)
class SmaCrossParams(Params):
    """Parameters of the SMA cross."""

    fast: int = param(10, low=2, high=200, help="bars of the fast average")
    slow: int = param(20, low=3, high=500, help="bars of the slow average")
    qty: Decimal = param(Decimal("0.001"), low=Decimal("0.000001"), help="order size in base coin")
    interval: Interval = param(Interval.M1, help="bar interval the averages are computed on")
    long_only: bool = param(False, help="on a cross down, close the long but do not go short")

    def validate(self) -> None:
        """Refuse a fast average that is not faster than the slow one."""
        if self.fast >= self.slow:
            raise ConfigError(f"fast ({self.fast}) must be below slow ({self.slow})")


class SmaCross(Strategy[SmaCrossParams]):
    """Go long when the fast SMA crosses above the slow one, short when it crosses below."""

    name = "sma_cross"

    def needs(self) -> DataNeeds:
        """Ask for the closes of one interval, enough for the slow average."""
        return DataNeeds(bars=(self.params.interval,), history=self.params.slow + 1)

    def on_start(self, ctx: Context) -> None:
        """Create the two averages and forget any previous values."""
        self.fast = SMA(self.params.fast)
        self.slow = SMA(self.params.slow)
        self.previous: tuple[float, float] | None = None

    def on_bar(self, ctx: Context, bar: ConfirmedBar) -> None:
        """Update both averages with the bar's close; trade on a cross."""
        close = float(bar.bar.close)
        fast, slow = self.fast.update(close), self.slow.update(close)
        if fast is None or slow is None:
            return
        previous, self.previous = self.previous, (fast, slow)
        if previous is None:
            return
        was_fast, was_slow = previous
        if was_fast < was_slow and fast > slow:
            ctx.close_position()
            ctx.buy(self.params.qty)
        elif was_fast > was_slow and fast < slow:
            ctx.close_position()
            if not self.params.long_only:
                ctx.sell(self.params.qty)
