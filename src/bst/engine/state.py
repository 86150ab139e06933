"""Saving and restoring the whole engine as JSON-compatible data (Decimals as strings).

Everything that decides future behaviour is saved: config, clock, id counters, books (with consumed
liquidity), prices, funding clocks, accounts, open orders with their queue positions, in-flight
(latency) actions and the query history. The event outbox is not: drain it before saving.
"""

from __future__ import annotations

import dataclasses
import typing
from decimal import Decimal
from enum import Enum
from functools import cache
from types import UnionType
from typing import Any, TypeVar

from bst.domain.instrument import Instrument
from bst.domain.market import Category
from bst.domain.orders import Execution, Order, OrderStatus
from bst.engine.accounts import account_from_state, account_to_state
from bst.engine.book import LiquidityBook
from bst.engine.config import BarFill, EngineConfig, FeeSchedule, LatencyModel, SymbolSpec
from bst.engine.ids import IdFactory
from bst.engine.venue import SymbolState, Venue
from bst.engine.working import WorkingOrder

FORMAT_VERSION = 1
T = TypeVar("T")


def _encode_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def encode(obj: Any) -> dict[str, Any]:
    """Return a flat dataclass (Order, Execution, Instrument, ...) as JSON-compatible data."""
    return {f.name: _encode_value(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


@cache
def _converters(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    converters: dict[str, Any] = {}
    for name, hint in hints.items():
        candidates = typing.get_args(hint) if isinstance(hint, UnionType) else (hint,)
        concrete = [c for c in candidates if c is not type(None)]
        target = concrete[0] if concrete else None
        if target is Decimal or (isinstance(target, type) and issubclass(target, Enum)):
            converters[name] = target
    return converters


def decode(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a flat dataclass saved by `encode`."""
    converters = _converters(cls)  # type: ignore[arg-type]  # classes are hashable
    values = {
        name: (converters[name](raw) if raw is not None and name in converters else raw)
        for name, raw in data.items()
    }
    return cls(**values)


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _opt_dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _fees_to_state(fees: FeeSchedule) -> dict[str, Any]:
    return {
        "linear_taker": str(fees.linear_taker),
        "linear_maker": str(fees.linear_maker),
        "spot_taker": str(fees.spot_taker),
        "spot_maker": str(fees.spot_maker),
        "symbol_rates": [[c.value, s, str(t), str(m)] for c, s, t, m in fees.symbol_rates],
        "fee_quantum": _opt(fees.fee_quantum),
    }


def _fees_from_state(data: dict[str, Any]) -> FeeSchedule:
    return FeeSchedule(
        linear_taker=Decimal(data["linear_taker"]),
        linear_maker=Decimal(data["linear_maker"]),
        spot_taker=Decimal(data["spot_taker"]),
        spot_maker=Decimal(data["spot_maker"]),
        symbol_rates=tuple((Category(c), s, Decimal(t), Decimal(m)) for c, s, t, m in data["symbol_rates"]),
        fee_quantum=_opt_dec(data["fee_quantum"]),
    )


def _config_to_state(config: EngineConfig) -> dict[str, Any]:
    return {
        "fees": _fees_to_state(config.fees),
        "latency": [config.latency.order_ms, config.latency.jitter_ms],
        "queue_model": config.queue_model,
        "default_leverage": str(config.default_leverage),
        "max_open_orders_per_symbol": config.max_open_orders_per_symbol,
        "max_closed_orders": config.max_closed_orders,
        "max_executions": config.max_executions,
        "liquidation": config.liquidation,
        "emit_events": config.emit_events,
        "seed": config.seed,
    }


def _config_from_state(data: dict[str, Any]) -> EngineConfig:
    return EngineConfig(
        fees=_fees_from_state(data["fees"]),
        latency=LatencyModel(*data["latency"]),
        queue_model=data["queue_model"],
        default_leverage=Decimal(data["default_leverage"]),
        max_open_orders_per_symbol=data["max_open_orders_per_symbol"],
        max_closed_orders=data["max_closed_orders"],
        max_executions=data["max_executions"],
        liquidation=data["liquidation"],
        emit_events=data["emit_events"],
        seed=data["seed"],
    )


def _symbol_to_state(sym: SymbolState) -> dict[str, Any]:
    spec = sym.spec
    return {
        "instrument": encode(spec.instrument),
        "maintenance_margin_rate": str(spec.maintenance_margin_rate),
        "market_slippage_ratio": str(spec.market_slippage_ratio),
        "limit_price_band_ratio": str(spec.limit_price_band_ratio),
        "default_funding_rate": str(spec.default_funding_rate),
        "funding_interval_ms": spec.funding_interval_ms,
        "bar_fill": spec.bar_fill.value if spec.bar_fill is not None else None,
        "bar_slippage_ratio": str(spec.bar_slippage_ratio),
        "awaiting_print": [o.order_id for o in sym.awaiting_print],
        "book": sym.book.to_state(),
        "last_price": _opt(sym.last_price),
        "mark": _opt(sym.mark),
        "index_price": _opt(sym.index_price),
        "funding_rate": _opt(sym.funding_rate),
        "next_funding_ms": sym.next_funding_ms,
        "holders": list(sym.holders),
        "checked_last": _opt(sym.checked_last),
        "checked_reference": _opt(sym.checked_reference),
    }


def _symbol_from_state(data: dict[str, Any]) -> SymbolState:
    spec = SymbolSpec(
        instrument=decode(Instrument, data["instrument"]),
        maintenance_margin_rate=Decimal(data["maintenance_margin_rate"]),
        market_slippage_ratio=Decimal(data["market_slippage_ratio"]),
        limit_price_band_ratio=Decimal(data["limit_price_band_ratio"]),
        default_funding_rate=Decimal(data["default_funding_rate"]),
        funding_interval_ms=data["funding_interval_ms"],
        bar_fill=BarFill(data["bar_fill"]) if data.get("bar_fill") else None,
        bar_slippage_ratio=Decimal(data.get("bar_slippage_ratio", "0")),
    )
    sym = SymbolState(spec)
    sym.book = LiquidityBook.from_state(data["book"])
    sym.last_price = _opt_dec(data["last_price"])
    sym.mark = _opt_dec(data["mark"])
    sym.index_price = _opt_dec(data["index_price"])
    sym.funding_rate = _opt_dec(data["funding_rate"])
    sym.next_funding_ms = data["next_funding_ms"]
    sym.holders = dict.fromkeys(int(uid) for uid in data["holders"])
    sym.checked_last = _opt_dec(data["checked_last"])
    sym.checked_reference = _opt_dec(data["checked_reference"])
    return sym


def _arguments_to_state(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in arguments.items()}


_KEPT_AS_SAVED = frozenset({"order_id", "trigger_by", "trigger_direction"})
"""Arguments of travelling requests that are not Decimals."""


def _arguments_from_state(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if k in _KEPT_AS_SAVED or v is None else Decimal(v)) for k, v in arguments.items()}


def dump(venue: Venue) -> dict[str, Any]:
    """Return the venue as JSON-compatible data."""
    accounts = []
    for account in venue.accounts.values():
        data = account_to_state(account)
        data["fees"] = _fees_to_state(account.fees)
        data["open_orders"] = [o.to_state() for o in account.open_orders.values()]
        data["closed"] = [encode(o) for o in account.closed.values()]
        data["executions"] = [encode(e) for e in account.executions]
        accounts.append(data)
    return {
        "format": FORMAT_VERSION,
        "config": _config_to_state(venue.config),
        "now_ms": venue.now_ms,
        "started": venue.started,
        "ids": [venue.ids.seed, venue.ids.counter, venue.ids.epoch],
        "priority": venue.priority,
        "exec_seq": venue.exec_seq,
        "request_seq": venue.request_seq,
        "symbols": [_symbol_to_state(s) for s in venue.symbols.values()],
        "accounts": accounts,
        "pending": [[at, seq, action, _arguments_to_state(args)] for at, seq, action, args in venue.pending],
    }


def load(data: dict[str, Any]) -> Venue:
    """Rebuild a venue saved by `dump`."""
    if data.get("format") != FORMAT_VERSION:
        raise ValueError(f"unsupported engine state format {data.get('format')!r}")
    venue = Venue(_config_from_state(data["config"]))
    venue.now_ms = data["now_ms"]
    venue.started = data["started"]
    venue.ids = IdFactory(*data["ids"])  # [seed, counter] before id epochs existed
    venue.priority = data["priority"]
    venue.exec_seq = data["exec_seq"]
    venue.request_seq = data["request_seq"]
    awaiting: dict[tuple[Category, str], list[str]] = {}
    for raw in data["symbols"]:
        sym = _symbol_from_state(raw)
        venue.symbols[(sym.spec.category, sym.spec.symbol)] = sym
        awaiting[(sym.spec.category, sym.spec.symbol)] = raw.get("awaiting_print", [])
    for raw in data["accounts"]:
        account = account_from_state(raw, _fees_from_state(raw["fees"]))
        venue.accounts[account.uid] = account
        for order_state in raw["open_orders"]:
            order = WorkingOrder.from_state(order_state)
            account.add_open(order)
            venue.orders[order.order_id] = order
            if order.resting:
                venue.sym_of(order).resting(order.is_buy).add(order)
            if order.awaiting_trigger and order.status is OrderStatus.UNTRIGGERED:
                venue.sym_of(order).triggers.add(order)
        account.closed = {o["order_id"]: decode(Order, o) for o in raw["closed"]}
        account.executions = [decode(Execution, e) for e in raw["executions"]]
    for key, order_ids in awaiting.items():
        venue.symbols[key].awaiting_print = [venue.orders[order_id] for order_id in order_ids]
    venue.refresh_funding_due()
    venue.pending = [
        (int(at), int(seq), str(action), _arguments_from_state(args))
        for at, seq, action, args in data["pending"]
    ]
    return venue
