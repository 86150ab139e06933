"""Untriggered conditional orders of one symbol, kept nearest-trigger-first per watched price.

A conditional order watches one price (`TriggerBy`: last trade, mark or index) and fires when that
price rises to its trigger (`TriggerDirection.RISE`: price >= trigger) or falls to it (FALL: price <=
trigger). Each (price, direction) pair is a sorted list whose head is the order the price reaches
first, so checking a price move costs one comparison per list when nothing fires.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from decimal import Decimal

from bst.domain.orders import TriggerBy, TriggerDirection
from bst.engine.working import WorkingOrder

WATCH_ORDER = (TriggerBy.LAST_PRICE, TriggerBy.MARK_PRICE, TriggerBy.INDEX_PRICE)
"""The order in which the watched prices are checked after one market event."""

_Key = tuple[Decimal, int]


def is_reached(direction: TriggerDirection, trigger: Decimal, price: Decimal) -> bool:
    """Return whether `price` has risen (RISE) or fallen (FALL) to `trigger`; touching it counts."""
    return price >= trigger if direction is TriggerDirection.RISE else price <= trigger


class _Watch:
    """Orders watching one price in one direction, the one the price reaches first at the head."""

    __slots__ = ("_keys", "_orders", "direction", "rise")

    def __init__(self, direction: TriggerDirection) -> None:
        self.direction = direction
        self.rise = direction is TriggerDirection.RISE
        self._keys: list[_Key] = []
        self._orders: list[WorkingOrder] = []

    def _key(self, order: WorkingOrder) -> _Key:
        trigger = order.trigger_price
        assert trigger is not None  # only conditional orders are watched
        # rising prices reach low triggers first, falling prices high ones; ties in creation order
        return (trigger if self.rise else -trigger, order.priority)

    def add(self, order: WorkingOrder) -> None:
        key = self._key(order)
        index = bisect.bisect_left(self._keys, key)
        self._keys.insert(index, key)
        self._orders.insert(index, order)

    def remove(self, order: WorkingOrder) -> bool:
        key = self._key(order)
        index = bisect.bisect_left(self._keys, key)
        if index < len(self._orders) and self._orders[index] is order:
            del self._keys[index]
            del self._orders[index]
            return True
        return False

    def due(self, price: Decimal) -> list[WorkingOrder]:
        """Return the orders `price` has reached, in the order a continuous move would reach them."""
        found: list[WorkingOrder] = []
        for key, order in zip(self._keys, self._orders, strict=True):
            if not is_reached(self.direction, key[0] if self.rise else -key[0], price):
                break
            found.append(order)
        return found

    def __len__(self) -> int:
        return len(self._orders)


class TriggerBook:
    """The untriggered conditional orders of one symbol.

    Invariant: an order is here exactly while it is armed (status `Untriggered`); its key (trigger
    price, priority) must not change while it is here (remove, change, add).
    """

    __slots__ = ("_count", "_watches")

    def __init__(self) -> None:
        self._watches: dict[tuple[TriggerBy, TriggerDirection], _Watch] = {}
        self._count = 0

    def _watch(self, order: WorkingOrder) -> _Watch:
        by = order.trigger_by or TriggerBy.LAST_PRICE
        direction = order.trigger_direction or TriggerDirection.RISE
        watch = self._watches.get((by, direction))
        if watch is None:
            watch = self._watches[(by, direction)] = _Watch(direction)
        return watch

    def add(self, order: WorkingOrder) -> None:
        """Start watching `order`'s trigger."""
        self._watch(order).add(order)
        self._count += 1

    def discard(self, order: WorkingOrder) -> None:
        """Stop watching `order` (no-op when it is not watched)."""
        if self._watch(order).remove(order):
            self._count -= 1

    def due(self, price_of: Callable[[TriggerBy], Decimal | None]) -> list[WorkingOrder]:
        """Return every watched order whose price has reached its trigger, in firing order.

        `price_of` gives the current value of each watched price (None: not known yet, nothing fires).
        Firing order: last price, then mark, then index; per price the rising watch before the falling
        one; within a watch nearest trigger first, ties in creation order.
        """
        if not self._count:
            return []
        fired: list[WorkingOrder] = []
        for by in WATCH_ORDER:
            for direction in (TriggerDirection.RISE, TriggerDirection.FALL):
                watch = self._watches.get((by, direction))
                if not watch:
                    continue
                price = price_of(by)
                if price is not None:
                    fired.extend(watch.due(price))
        return fired

    def trigger_prices(self, by: TriggerBy) -> list[Decimal]:
        """Return the trigger prices of the orders watching price `by` (any direction)."""
        return [
            order.trigger_price
            for (watched, _), watch in self._watches.items()
            if watched is by
            for order in watch._orders
            if order.trigger_price is not None
        ]

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0
