"""The order books of many streams, keyed by (category, symbol, depth)."""

from __future__ import annotations

from collections.abc import Iterator

from bst.domain.events import BookUpdate
from bst.domain.market import Category
from bst.domain.orderbook import ApplyResult, OrderBook


class BookSet:
    """Order books of many streams, each created on its first message."""

    def __init__(self, *, check_continuity: bool = True) -> None:
        self.check_continuity = check_continuity
        self._books: dict[tuple[Category, str, int], OrderBook] = {}

    def apply(self, update: BookUpdate) -> ApplyResult:
        """Apply one message to its book."""
        return self.book(update.category, update.symbol, update.depth).apply(update)

    def get(self, category: Category, symbol: str, depth: int) -> OrderBook | None:
        """Return the book of one stream, or None if it has had no message."""
        return self._books.get((category, symbol, depth))

    def book(self, category: Category, symbol: str, depth: int) -> OrderBook:
        """Return the book of one stream, creating an empty (invalid) one if needed."""
        key = (category, symbol, depth)
        book = self._books.get(key)
        if book is None:
            book = self._books[key] = OrderBook(
                symbol, depth, category=category, check_continuity=self.check_continuity
            )
        return book

    def deepest(self, category: Category, symbol: str) -> OrderBook | None:
        """Return the deepest book held for a symbol, or None."""
        found = [b for (c, s, _), b in self._books.items() if c is category and s == symbol]
        return max(found, key=lambda b: b.depth or 0) if found else None

    def __iter__(self) -> Iterator[OrderBook]:
        return iter(list(self._books.values()))

    def __len__(self) -> int:
        return len(self._books)
