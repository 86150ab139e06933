"""The trading desk's inputs as typed, serialisable values: account commands and journal records.

A mutating private route parses its payload into a `Command` (place, amend, cancel, ...). The desk
journals every state-changing input as a `DeskRecord` (a market `Step` to a sim time, an `Execute`
of a command, an `OpenAccount`, a `Reset`) before it acts on it, and acts on it through one method
for both the live request and the replay after a restart, so the two cannot diverge. Records are
pure values: everything the engine call needs is in their fields, nothing is read from a request.

The JSON forms round-trip every field exactly (Decimals as strings); a field added to `OrderRequest`
or `AmendRequest` is carried without change here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Protocol, runtime_checkable

from bst.bybit.codec.account_info import encode_margin_mode_reasons
from bst.bybit.codec.orders import encode_ack
from bst.bybit.retcodes import RetCode
from bst.domain.account_info import MarginMode
from bst.domain.errors import BybitAPIError
from bst.domain.market import Category
from bst.domain.orders import AmendRequest, OrderFilter, OrderRequest
from bst.engine import MatchingEngine
from bst.engine.state import decode, encode

JSON = dict[str, Any]


@runtime_checkable
class Command(Protocol):
    """A state-changing request of one account: run it on the engine, return the reply's `result`."""

    op: ClassVar[str]

    def apply(self, engine: MatchingEngine, uid: int) -> JSON:
        """Run the request for account `uid` (raises the engine's BybitAPIError on refusal)."""
        ...

    def to_json(self) -> JSON:
        """Return the command's fields as JSON-compatible data (see `command_from_json`)."""
        ...


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """`/v5/order/create`."""

    op: ClassVar[str] = "create"
    request: OrderRequest

    def apply(self, engine: MatchingEngine, uid: int) -> JSON:
        """Place the order; return its ack."""
        return encode_ack(engine.place_order(uid, self.request))

    def to_json(self) -> JSON:
        """Return the request's fields."""
        return encode(self.request)

    @classmethod
    def from_json(cls, data: JSON) -> PlaceOrder:
        """Rebuild from `to_json`."""
        return cls(decode(OrderRequest, data))


@dataclass(frozen=True, slots=True)
class AmendOrder:
    """`/v5/order/amend`."""

    op: ClassVar[str] = "amend"
    request: AmendRequest

    def apply(self, engine: MatchingEngine, uid: int) -> JSON:
        """Amend the order; return its ack."""
        return encode_ack(engine.amend_order(uid, self.request))

    def to_json(self) -> JSON:
        """Return the request's fields."""
        return encode(self.request)

    @classmethod
    def from_json(cls, data: JSON) -> AmendOrder:
        """Rebuild from `to_json`."""
        return cls(decode(AmendRequest, data))


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """`/v5/order/cancel` (orderId wins over orderLinkId; spot looks among `order_filter` orders)."""

    op: ClassVar[str] = "cancel"
    category: Category
    symbol: str
    order_id: str = ""
    order_link_id: str = ""
    order_filter: OrderFilter | None = None

    def apply(self, engine: MatchingEngine, uid: int) -> JSON:
        """Cancel the order; return its ack."""
        ack = engine.cancel_order(
            uid,
            self.category,
            self.symbol,
            order_id=self.order_id,
            order_link_id=self.order_link_id,
            order_filter=self.order_filter,
        )
        return encode_ack(ack)

    def to_json(self) -> JSON:
        """Return the fields."""
        return encode(self)

    @classmethod
    def from_json(cls, data: JSON) -> CancelOrder:
        """Rebuild from `to_json`."""
        return decode(cls, data)


@dataclass(frozen=True, slots=True)
class CancelAll:
    """`/v5/order/cancel-all` with its symbol / baseCoin / settleCoin filter."""

    op: ClassVar[str] = "cancel_all"
    category: Category
    symbol: str | None = None
    base_coin: str | None = None
    settle_coin: str | None = None
    order_filter: OrderFilter | None = None
    stop_order_type: str | None = None

    def apply(self, engine: MatchingEngine, uid: int) -> JSON:
        """Cancel every matching open order; return the acks."""
        acks = engine.cancel_all(
            uid,
            self.category,
            symbol=self.symbol,
            base_coin=self.base_coin,
            settle_coin=self.settle_coin,
            order_filter=self.order_filter,
            stop_order_type=self.stop_order_type,
        )
        return {"list": [encode_ack(a) for a in acks], "success": "1"}

    def to_json(self) -> JSON:
        """Return the fields."""
        return encode(self)

    @classmethod
    def from_json(cls, data: JSON) -> CancelAll:
        """Rebuild from `to_json`."""
        return decode(cls, data)


@dataclass(frozen=True, slots=True)
class SetLeverage:
    """`/v5/position/set-leverage` (linear)."""

    op: ClassVar[str] = "set_leverage"
    symbol: str
    buy_leverage: Decimal
    sell_leverage: Decimal | None = None

    def apply(self, engine: MatchingEngine, uid: int) -> JSON:
        """Change the leverage."""
        engine.set_leverage(uid, self.symbol, self.buy_leverage, self.sell_leverage)
        return {}

    def to_json(self) -> JSON:
        """Return the fields."""
        return encode(self)

    @classmethod
    def from_json(cls, data: JSON) -> SetLeverage:
        """Rebuild from `to_json`."""
        return decode(cls, data)


@dataclass(frozen=True, slots=True)
class SetTradingStop:
    """`/v5/position/trading-stop` (linear, full-position TP/SL; 0 clears)."""

    op: ClassVar[str] = "trading_stop"
    symbol: str
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None

    def apply(self, engine: MatchingEngine, uid: int) -> JSON:
        """Set the position's TP/SL."""
        engine.set_trading_stop(uid, self.symbol, take_profit=self.take_profit, stop_loss=self.stop_loss)
        return {}

    def to_json(self) -> JSON:
        """Return the fields."""
        return encode(self)

    @classmethod
    def from_json(cls, data: JSON) -> SetTradingStop:
        """Rebuild from `to_json`."""
        return decode(cls, data)


@dataclass(frozen=True, slots=True)
class BatchOrders:
    """`/v5/order/create-batch`, `amend-batch`, `cancel-batch`: each item as its single endpoint's command.

    Items run in order; an item the engine refuses does not stop the others. The result lists each
    item's outcome (`code`, `msg`, `orderId`, `orderLinkId`, and `createAt` for a create, the engine
    time it was accepted) for the reply to merge with the items refused before the engine.
    """

    op: ClassVar[str] = "batch"
    items: tuple[PlaceOrder | AmendOrder | CancelOrder, ...]

    def apply(self, engine: MatchingEngine, uid: int) -> JSON:
        """Run every item; return `{"items": [outcome, ...]}` in item order."""
        outcomes: list[JSON] = []
        for item in self.items:
            link = item.order_link_id if isinstance(item, CancelOrder) else item.request.order_link_id
            try:
                ack = item.apply(engine, uid)
            except BybitAPIError as e:
                refused = e.ret_code or RetCode.PARAMS_ERROR
                outcomes.append({"code": refused, "msg": e.ret_msg, "orderId": "", "orderLinkId": link})
                continue
            created = engine.now_ms if isinstance(item, PlaceOrder) else None
            outcomes.append({"code": 0, "msg": "OK", **ack, "createAt": created})
        return {"items": outcomes}

    def to_json(self) -> JSON:
        """Return the items as commands."""
        return {"items": [command_to_json(item) for item in self.items]}

    @classmethod
    def from_json(cls, data: JSON) -> BatchOrders:
        """Rebuild from `to_json`."""
        items: list[PlaceOrder | AmendOrder | CancelOrder] = []
        for raw in data["items"]:
            item = command_from_json(raw)
            if not isinstance(item, PlaceOrder | AmendOrder | CancelOrder):
                raise ValueError(f"a batch holds creates, amends and cancels, not {item.op}")
            items.append(item)
        return cls(tuple(items))


@dataclass(frozen=True, slots=True)
class SwitchPositionMode:
    """`/v5/position/switch-mode` (the engine is one-way: refused with 110025 or 110029)."""

    op: ClassVar[str] = "switch_mode"
    mode: int
    symbol: str = ""
    coin: str = ""

    def apply(self, engine: MatchingEngine, uid: int) -> JSON:
        """Ask the engine to switch."""
        engine.switch_position_mode(uid, self.mode, symbol=self.symbol, coin=self.coin)
        return {}

    def to_json(self) -> JSON:
        """Return the fields."""
        return encode(self)

    @classmethod
    def from_json(cls, data: JSON) -> SwitchPositionMode:
        """Rebuild from `to_json`."""
        return decode(cls, data)


@dataclass(frozen=True, slots=True)
class SetMarginMode:
    """`/v5/account/set-margin-mode`: the result's `reasons` say why the engine refused (none: done)."""

    op: ClassVar[str] = "margin_mode"
    mode: MarginMode

    def apply(self, engine: MatchingEngine, uid: int) -> JSON:
        """Ask the engine for the mode (110026 when it is the mode in force)."""
        return encode_margin_mode_reasons(engine.set_margin_mode(uid, self.mode))

    def to_json(self) -> JSON:
        """Return the fields."""
        return encode(self)

    @classmethod
    def from_json(cls, data: JSON) -> SetMarginMode:
        """Rebuild from `to_json`."""
        return decode(cls, data)


class _CommandKind(Protocol):
    """A command class, read back by its `op`."""

    def from_json(self, data: JSON) -> Command:
        """Rebuild a command of this kind."""
        ...


_KINDS: dict[str, _CommandKind] = {
    kind.op: kind
    for kind in (
        PlaceOrder,
        AmendOrder,
        CancelOrder,
        CancelAll,
        SetLeverage,
        SetTradingStop,
        BatchOrders,
        SwitchPositionMode,
        SetMarginMode,
    )
}


def command_to_json(command: Command) -> JSON:
    """Return `{"op": ..., "args": {...}}` for a command."""
    return {"op": command.op, "args": command.to_json()}


def command_from_json(data: JSON) -> Command:
    """Rebuild a command from `command_to_json`; ValueError when the op is unknown."""
    kind = _KINDS.get(str(data.get("op")))
    if kind is None:
        raise ValueError(f"unknown command {data.get('op')!r}")
    return kind.from_json(data["args"])


# --- the desk's journal records ---------------------------------------------------------------

FeedKey = tuple[Category, str]
Balances = tuple[tuple[str, Decimal], ...]


@dataclass(frozen=True, slots=True)
class Step:
    """Bring the market to `now_ms`, first starting to feed the `feed` symbols."""

    now_ms: int
    feed: tuple[FeedKey, ...] = ()


@dataclass(frozen=True, slots=True)
class Execute:
    """A step, then one account's command."""

    now_ms: int
    uid: int
    command: Command
    feed: tuple[FeedKey, ...] = ()


@dataclass(frozen=True, slots=True)
class OpenAccount:
    """Open account `uid` for an API key, funded with `balances` (coin, amount)."""

    api_key: str
    uid: int
    balances: Balances = ()


@dataclass(frozen=True, slots=True)
class Reset:
    """Start over at `now_ms`: a fresh engine with these models and accounts (key, balances)."""

    now_ms: int
    accounts: tuple[tuple[str, Balances], ...]
    latency_ms: int
    queue_model: bool


DeskRecord = Step | Execute | OpenAccount | Reset


def _feed_json(feed: tuple[FeedKey, ...]) -> list[list[str]]:
    return [[category.value, symbol] for category, symbol in feed]


def _feed_of(data: list[list[str]]) -> tuple[FeedKey, ...]:
    return tuple((Category(category), str(symbol)) for category, symbol in data)


def _balances_json(balances: Balances) -> list[list[str]]:
    return [[coin, str(amount)] for coin, amount in balances]


def _balances_of(data: list[list[str]]) -> Balances:
    return tuple((str(coin), Decimal(amount)) for coin, amount in data)


def record_to_json(record: DeskRecord) -> JSON:
    """Return a journal record as JSON-compatible data."""
    if isinstance(record, Step):
        return {"k": "step", "t": record.now_ms, "feed": _feed_json(record.feed)}
    if isinstance(record, Execute):
        return {
            "k": "exec",
            "t": record.now_ms,
            "uid": record.uid,
            "feed": _feed_json(record.feed),
            "cmd": command_to_json(record.command),
        }
    if isinstance(record, OpenAccount):
        return {"k": "open", "key": record.api_key, "uid": record.uid, "bal": _balances_json(record.balances)}
    return {
        "k": "reset",
        "t": record.now_ms,
        "accounts": [[key, _balances_json(balances)] for key, balances in record.accounts],
        "latency_ms": record.latency_ms,
        "queue_model": record.queue_model,
    }


def record_from_json(data: JSON) -> DeskRecord:
    """Rebuild a journal record from `record_to_json`; ValueError/KeyError/TypeError when malformed."""
    kind = data["k"]
    if kind == "step":
        return Step(int(data["t"]), _feed_of(data["feed"]))
    if kind == "exec":
        command = command_from_json(data["cmd"])
        return Execute(int(data["t"]), int(data["uid"]), command, _feed_of(data["feed"]))
    if kind == "open":
        return OpenAccount(str(data["key"]), int(data["uid"]), _balances_of(data["bal"]))
    if kind == "reset":
        accounts = tuple((str(key), _balances_of(balances)) for key, balances in data["accounts"])
        return Reset(int(data["t"]), accounts, int(data["latency_ms"]), bool(data["queue_model"]))
    raise ValueError(f"unknown journal record kind {kind!r}")
