"""Execution policy: place, amend and cancel orders through an `OrderGateway` without guessing.

A gateway reports a request whose reply was lost (a timeout, a cut connection, a server failure) as
an error with `outcome_unknown` True: the request may or may not have taken effect. This policy
decides what to do about it. It asks the venue about the order (by orderLinkId, which every order
carries before it is sent), re-sends only what is safe to repeat, records everything in the
`OrderTracker`, and never invents an outcome: what it cannot establish stays UNKNOWN and is reported.

    submit   register -> mark sent -> place_order                          tracker       outcome
               |-- ack ----------------------------------------------------> ACKED         DONE
               |-- refused -----------------------------------------------> REJECTED      REFUSED
               |-- refused as a duplicate -> look up ---------------------> the venue's   REFUSED
               '-- lost -> UNKNOWN -> look up (bounded retries on transient errors)
                     |-- lookups keep failing ----------------------------> UNKNOWN       UNKNOWN
                     |-- found -------------------------------------------> exchange      DONE
                     '-- none -> NOT_FOUND -> send the same orderLinkId again (the venue
                           |                  refuses a second order under it)
                           |-- every one of `max_sends` sends lost, never found -> NOT_FOUND
                           '-- refused (a duplicate: a lost send landed; or any refusal)
                                 -> look up: found -> exchange, DONE; none -> REJECTED, REFUSED
                                    (a duplicate the lookups cannot show yet: UNKNOWN)

    amend    send -> ack ----------------------------------------------------------> DONE
    cancel     |-- refused (other than "not found") --------------------------------> REFUSED
               '-- lost, refused as not found, or refused after a lost send -> look up
                     |-- after a lost send, the order shows the effect
                     |   (the amended values / a cancelled status) --------> exchange, DONE
                     |-- this send was lost and the order is open or unlisted -> send again
                     |   (an amend's targets are absolute; a second cancel does no harm);
                     |   still lost after `max_sends` --------------------------------> UNKNOWN
                     '-- otherwise (open, filled, cancelled by another, gone) ----> REFUSED

    cancel_all  send -> acks: DONE | refused: REFUSED | lost -> send again (cancels what is
                left); still lost after `max_sends`: UNKNOWN

`resolve_unresolved()` asks the venue about every order the tracker still holds as sent, acked or
unknown (after a crash, a restart, a cancelled task); it never re-sends: an order the venue has no
trace of becomes NOT_FOUND, and re-submitting it (same orderLinkId) is the caller's decision.

Every operation returns an outcome value (`OrderOutcome`, `CancelAllOutcome`); its `error` (from the
one error tree) is set whenever the resolution is not DONE. Only input errors raise: an order that
breaks the instrument's rules (`OrderValidationError`, nothing sent) and an orderLinkId the tracker
already follows (`TrackerError`). Lookups wait on the injected `Clock`, so tests need no sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

import structlog

from bst.domain.clock import Clock
from bst.domain.errors import (
    BstError,
    BybitAPIError,
    BybitDuplicateOrderError,
    BybitOrderNotFoundError,
    BybitRateLimitError,
    ConfigError,
    OrderValidationError,
)
from bst.domain.instrument import Instrument
from bst.domain.market import Category
from bst.domain.order_rules import prepare_order
from bst.domain.orders import (
    AmendRequest,
    Order,
    OrderAck,
    OrderFilter,
    OrderRequest,
    OrderStatus,
    order_filter_of,
)
from bst.domain.ports import OrderGateway
from bst.trading.order_tracker import LocalPhase, OrderTracker, TrackedOrder

__all__ = [
    "CancelAllOutcome",
    "ExecutionConfig",
    "ExecutionPolicy",
    "OrderOutcome",
    "Resolution",
]

log = structlog.get_logger(__name__)

CANCELLED_STATUSES = frozenset(
    {OrderStatus.CANCELLED, OrderStatus.PARTIALLY_FILLED_CANCELED, OrderStatus.DEACTIVATED}
)
"""The statuses of an order that was cancelled (a conditional order cancelled untriggered: Deactivated)."""


class Resolution(StrEnum):
    """What the policy established about one request."""

    DONE = "done"
    """The venue did what was asked: the order exists / carries the amendment / is cancelled."""
    REFUSED = "refused"
    """The venue refused the request; `order` shows what it holds under that id, if anything."""
    NOT_FOUND = "not_found"
    """Submit only: every send went unanswered and the venue has no trace of the order; re-submitting
    the same orderLinkId is safe (the venue would refuse a second order under it)."""
    UNKNOWN = "unknown"
    """The outcome could not be established (lookups failed); the tracker keeps the order UNKNOWN."""


@dataclass(frozen=True, slots=True)
class ExecutionConfig:
    """Bounds of the policy: sends per request, lookups per question and their backoff (seconds)."""

    max_sends: int = 3
    lookup_attempts: int = 5
    lookup_delay_s: float = 0.2
    lookup_max_delay_s: float = 2.0

    def __post_init__(self) -> None:
        if self.max_sends < 1 or self.lookup_attempts < 1:
            raise ConfigError(
                f"max_sends and lookup_attempts must be at least 1, got {self.max_sends} and "
                f"{self.lookup_attempts}"
            )
        if not 0 <= self.lookup_delay_s <= self.lookup_max_delay_s:
            raise ConfigError(
                f"need 0 <= lookup_delay_s <= lookup_max_delay_s, got {self.lookup_delay_s} and "
                f"{self.lookup_max_delay_s}"
            )


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """What became of one submit, amend or cancel.

    Invariant: `error` is None exactly when `resolution` is DONE. `order` is the venue's view when a
    lookup was made (None after a plain ack: the account feed brings the status). `sends` counts the
    requests sent, `lookups` the order lookups made (failed attempts included).
    """

    resolution: Resolution
    order_link_id: str
    order_id: str = ""
    order: Order | None = None
    error: BybitAPIError | None = None
    sends: int = 0
    lookups: int = 0

    @property
    def ok(self) -> bool:
        """Return whether the venue did what was asked."""
        return self.resolution is Resolution.DONE

    def raise_for_failure(self) -> None:
        """Raise `error` unless the venue did what was asked."""
        if self.error is not None:
            raise self.error


@dataclass(frozen=True, slots=True)
class CancelAllOutcome:
    """What became of one cancel-all.

    `cancelled` lists the acknowledged cancellations; it is `complete` only when no reply was lost
    (a lost reply's cancellations reach the caller through the account feed, not here).
    """

    resolution: Resolution
    cancelled: tuple[OrderAck, ...] = ()
    complete: bool = True
    error: BybitAPIError | None = None
    sends: int = 0

    @property
    def ok(self) -> bool:
        """Return whether the venue confirmed the cancel-all."""
        return self.resolution is Resolution.DONE

    def raise_for_failure(self) -> None:
        """Raise `error` unless the venue confirmed the cancel-all."""
        if self.error is not None:
            raise self.error


class _LookupFailedError(BstError):
    """A lookup could not be made (non-transient error, or every attempt failed)."""

    def __init__(self, error: BybitAPIError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True, slots=True)
class _Target:
    """The order an amend or cancel acts on."""

    category: Category
    symbol: str
    order_link_id: str
    order_id: str


@dataclass(slots=True)
class _Attempts:
    """Counters and evidence of one operation in progress."""

    sends: int = 0
    lookups: int = 0
    lost: BybitAPIError | None = None
    """The last error that left a send's outcome unknown (None: every send was answered)."""


class ExecutionPolicy:
    """Submit, amend and cancel orders of one account through `gateway`, tracked in `tracker`.

    Safe to use from concurrent tasks (one event loop): each orderLinkId is in flight at most once.
    """

    def __init__(
        self,
        gateway: OrderGateway,
        tracker: OrderTracker,
        clock: Clock,
        config: ExecutionConfig | None = None,
    ) -> None:
        self.gateway = gateway
        self.tracker = tracker
        self.clock = clock
        self.config = config or ExecutionConfig()
        self._in_flight: set[str] = set()

    # -- submit -------------------------------------------------------------------------------

    async def submit(self, request: OrderRequest, instrument: Instrument | None = None) -> OrderOutcome:
        """Place `request` (rounded to `instrument`'s grid, given an orderLinkId if it has none).

        Raises `OrderValidationError` (nothing registered or sent) or `TrackerError` (the
        orderLinkId is already tracked and not NOT_FOUND); every venue answer is in the outcome.
        """
        prepared = prepare_order(request, instrument)
        link = prepared.order_link_id
        self.tracker.register(prepared, self._now())
        self._in_flight.add(link)
        attempts = _Attempts()
        try:
            return await self._submit(prepared, attempts)
        except _LookupFailedError as e:
            self.tracker.mark_unknown(link, str(e.error), self._now())
            return self._unknown(link, "", attempts, e.error, "order")
        except asyncio.CancelledError:
            # A task cancelled mid-flight leaves the order for `resolve_unresolved`, never orphaned.
            self.tracker.mark_unknown(link, "cancelled while in flight", self._now())
            raise
        except OrderValidationError as e:  # refused by the gateway's own check: nothing was sent
            self.tracker.mark_rejected_locally(link, str(e), self._now())
            raise
        finally:
            self._in_flight.discard(link)

    async def _submit(self, request: OrderRequest, attempts: _Attempts) -> OrderOutcome:
        link = request.order_link_id
        while attempts.sends < self.config.max_sends:
            self.tracker.mark_sent(link, self._now())
            attempts.sends += 1
            try:
                ack = await self.gateway.place_order(request)
            except BybitAPIError as e:
                if e.outcome_unknown:
                    attempts.lost = e
                    self.tracker.mark_unknown(link, str(e), self._now())
                    log.warning("execution.create_unknown", order_link_id=link, error=str(e))
                    found = await self._look_up(request.category, request.symbol, link, "", attempts)
                    if found is not None:
                        return self._found(found, attempts)
                    self.tracker.mark_not_found(link, self._now())
                    continue  # nothing under this orderLinkId: sending it again cannot duplicate
                return await self._refused_create(request, e, attempts)
            self.tracker.mark_acked(link, ack.order_id, self._now())
            return OrderOutcome(
                Resolution.DONE, link, ack.order_id, sends=attempts.sends, lookups=attempts.lookups
            )
        error = BybitAPIError(
            f"order {link}: {attempts.sends} sends went unanswered and the venue has no trace of it; "
            "submitting the same orderLinkId again is safe",
            retryable=True,
        )
        error.__cause__ = attempts.lost
        log.warning("execution.create_not_found", order_link_id=link, sends=attempts.sends)
        return OrderOutcome(
            Resolution.NOT_FOUND, link, error=error, sends=attempts.sends, lookups=attempts.lookups
        )

    async def _refused_create(
        self, request: OrderRequest, refusal: BybitAPIError, attempts: _Attempts
    ) -> OrderOutcome:
        link = request.order_link_id
        duplicate = isinstance(refusal, BybitDuplicateOrderError)
        if attempts.lost is None and not duplicate:
            self.tracker.mark_rejected_locally(link, str(refusal), self._now())
            return self._refused(link, refusal, None, attempts)
        # A duplicate, or a refusal after a lost send (which may have landed, e.g. a reduce-only
        # order refused because the lost one already closed the position): what the venue holds
        # under this orderLinkId decides.
        found = await self._look_up(request.category, request.symbol, link, "", attempts)
        if found is not None:
            if attempts.lost is not None:
                return self._found(found, attempts)
            # A duplicate on the first send: an order with this orderLinkId existed before.
            self.tracker.on_order(found, self._now())
            return self._refused(link, refusal, found, attempts)
        if duplicate:
            # The venue says the orderLinkId is taken but cannot show the order (yet).
            self.tracker.mark_unknown(link, str(refusal), self._now())
            if attempts.lost is not None:
                return self._unknown(link, "", attempts, refusal, "order")
            return self._refused(link, refusal, None, attempts)
        self.tracker.mark_rejected_locally(link, str(refusal), self._now())
        return self._refused(link, refusal, None, attempts)

    # -- amend and cancel ---------------------------------------------------------------------

    async def amend(self, request: AmendRequest) -> OrderOutcome:
        """Amend an open order; a lost reply is resolved by comparing the order with the request."""
        _require_id(request.order_id, request.order_link_id, "amend")
        target = _Target(request.category, request.symbol, request.order_link_id, request.order_id)
        return await self._modify(
            "amend", target, lambda: self.gateway.amend_order(request), lambda o: _amend_applied(request, o)
        )

    async def cancel(
        self,
        category: Category,
        symbol: str,
        *,
        order_id: str = "",
        order_link_id: str = "",
        order_filter: OrderFilter | None = None,
    ) -> OrderOutcome:
        """Cancel one order; a lost reply, or a refusal as not found, is resolved by a lookup.

        A spot conditional or TP/SL order is found only under its `order_filter`; when it is not
        given, the filter of an order the tracker follows is used.
        """
        _require_id(order_id, order_link_id, "cancel")
        target = _Target(category, symbol, order_link_id, order_id)
        if order_filter is None and category is Category.SPOT:
            order_filter = self._filter_of(order_link_id)

        def send() -> Awaitable[OrderAck]:
            return self.gateway.cancel_order(
                category, symbol, order_id=order_id, order_link_id=order_link_id, order_filter=order_filter
            )

        return await self._modify("cancel", target, send, lambda o: o.status in CANCELLED_STATUSES)

    def _filter_of(self, order_link_id: str) -> OrderFilter | None:
        tracked = self.tracker.get(order_link_id) if order_link_id else None
        if tracked is None:
            return None
        if tracked.order is not None:
            return order_filter_of(tracked.order.stop_order_type)
        return tracked.request.order_filter

    async def _modify(
        self,
        what: str,
        target: _Target,
        send: Callable[[], Awaitable[OrderAck]],
        achieved: Callable[[Order], bool],
    ) -> OrderOutcome:
        """Send an amend or cancel; settle lost replies and not-found refusals by looking the order up.

        `achieved(order)` says whether the venue's order shows the request's effect. Re-sending is
        safe for both: an amend's targets are absolute and cancelling twice cannot do harm.
        """
        attempts = _Attempts()
        link, order_id = target.order_link_id, target.order_id
        try:
            while attempts.sends < self.config.max_sends:
                attempts.sends += 1
                try:
                    ack = await send()
                except BybitAPIError as e:
                    if e.outcome_unknown:
                        attempts.lost = e
                        log.warning(
                            f"execution.{what}_unknown", order_link_id=link, order_id=order_id, error=str(e)
                        )
                    elif attempts.lost is None and not isinstance(e, BybitOrderNotFoundError):
                        return self._refused(link, e, None, attempts, order_id)
                    found = await self._look_up(target.category, target.symbol, link, order_id, attempts)
                    if found is not None:
                        if attempts.lost is not None and achieved(found):
                            return self._found(found, attempts)
                        self.tracker.on_order(found, self._now())
                    if e.outcome_unknown and (found is None or found.is_open):
                        continue  # not (yet) done and still possible: send it again
                    if found is None or found.is_open:
                        return self._refused(link, e, found, attempts, order_id)
                    return self._refused(link, _closed(e, found, what), found, attempts, order_id)
                return OrderOutcome(
                    Resolution.DONE,
                    ack.order_link_id,
                    ack.order_id,
                    sends=attempts.sends,
                    lookups=attempts.lookups,
                )
        except _LookupFailedError as failed:
            return self._unknown(link, order_id, attempts, failed.error, what)
        assert attempts.lost is not None  # every pass that did not return ended in a lost reply
        return self._unknown(link, order_id, attempts, attempts.lost, what)

    async def cancel_all(
        self, category: Category, *, symbol: str | None = None, settle_coin: str | None = None
    ) -> CancelAllOutcome:
        """Cancel every open order of a symbol (or settle coin); a lost reply is re-sent."""
        lost: BybitAPIError | None = None
        for sends in range(1, self.config.max_sends + 1):
            try:
                acks = await self.gateway.cancel_all_orders(category, symbol=symbol, settle_coin=settle_coin)
            except BybitAPIError as e:
                if not e.outcome_unknown:
                    return CancelAllOutcome(Resolution.REFUSED, complete=lost is None, error=e, sends=sends)
                lost = e
                log.warning("execution.cancel_all_unknown", symbol=symbol, error=str(e))
                continue  # cancelling all again cancels what is left: nothing can be done twice
            return CancelAllOutcome(Resolution.DONE, tuple(acks), complete=lost is None, sends=sends)
        assert lost is not None
        error = BybitAPIError(
            f"cancel-all of {symbol or settle_coin or category.value}: {self.config.max_sends} sends went "
            "unanswered; list the open orders to see what is left",
            ret_code=lost.ret_code,
            outcome_unknown=True,
        )
        error.__cause__ = lost
        return CancelAllOutcome(Resolution.UNKNOWN, complete=False, error=error, sends=self.config.max_sends)

    # -- resolution of what is left unresolved ------------------------------------------------

    async def resolve_unresolved(self) -> list[OrderOutcome]:
        """Ask the venue about every tracked order still sent, acked or unknown; re-send nothing.

        Found: the tracker takes the venue's state (DONE). Not found: a sent or unknown order becomes
        NOT_FOUND; an acked one stays as it is (the venue acknowledged it) and is reported UNKNOWN,
        as is every order whose lookups failed. Orders being submitted right now are skipped.
        """
        outcomes: list[OrderOutcome] = []
        for tracked in self.tracker.unresolved():
            if tracked.order_link_id not in self._in_flight:
                outcomes.append(await self._resolve(tracked))
        return outcomes

    async def _resolve(self, tracked: TrackedOrder) -> OrderOutcome:
        link, request = tracked.order_link_id, tracked.request
        attempts = _Attempts()
        try:
            found = await self._look_up(request.category, request.symbol, link, tracked.order_id, attempts)
        except _LookupFailedError as e:
            self.tracker.mark_unknown(link, str(e.error), self._now())
            return self._unknown(link, tracked.order_id, attempts, e.error, "order")
        if found is not None:
            return self._found(found, attempts)
        if tracked.phase is LocalPhase.ACKED:
            missing = BybitAPIError(f"order {link} was acknowledged but the venue does not list it (yet)")
            return self._unknown(link, tracked.order_id, attempts, missing, "order")
        self.tracker.mark_unknown(link, "not found on the venue", self._now())
        self.tracker.mark_not_found(link, self._now())
        error = BybitAPIError(f"order {link}: the venue has no trace of it", retryable=True)
        return OrderOutcome(Resolution.NOT_FOUND, link, error=error, lookups=attempts.lookups)

    # -- helpers ------------------------------------------------------------------------------

    async def _look_up(
        self, category: Category, symbol: str, link: str, order_id: str, attempts: _Attempts
    ) -> Order | None:
        """Return the venue's order (None: it has none); retry transient failures on the clock."""
        delay = self.config.lookup_delay_s
        for attempt in range(1, self.config.lookup_attempts + 1):
            attempts.lookups += 1
            try:
                return await self.gateway.find_order(category, symbol, link, order_id=order_id)
            except BybitAPIError as e:
                if not e.retryable or attempt == self.config.lookup_attempts:
                    log.warning(
                        "execution.lookup_failed", order_link_id=link, order_id=order_id, error=str(e)
                    )
                    raise _LookupFailedError(e) from e
                wait = delay
                if isinstance(e, BybitRateLimitError) and e.reset_at_ms is not None:
                    wait = max(wait, (e.reset_at_ms - self._now()) / 1000)
                await self.clock.sleep(min(wait, self.config.lookup_max_delay_s))
                delay = min(delay * 2, self.config.lookup_max_delay_s)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    def _found(self, found: Order, attempts: _Attempts) -> OrderOutcome:
        """Return DONE with the venue's order, which the tracker takes in."""
        self.tracker.on_order(found, self._now())
        return OrderOutcome(
            Resolution.DONE,
            found.order_link_id,
            found.order_id,
            found,
            sends=attempts.sends,
            lookups=attempts.lookups,
        )

    @staticmethod
    def _refused(
        link: str, error: BybitAPIError, found: Order | None, attempts: _Attempts, order_id: str = ""
    ) -> OrderOutcome:
        return OrderOutcome(
            Resolution.REFUSED,
            link,
            found.order_id if found is not None else order_id,
            found,
            error,
            attempts.sends,
            attempts.lookups,
        )

    def _unknown(
        self, link: str, order_id: str, attempts: _Attempts, cause: BybitAPIError, what: str
    ) -> OrderOutcome:
        error = BybitAPIError(
            f"{what} {link or order_id}: outcome unknown after {attempts.sends} send(s) and "
            f"{attempts.lookups} lookup(s) ({cause}); query the order before acting on it again",
            ret_code=cause.ret_code,
            outcome_unknown=True,
        )
        error.__cause__ = cause
        log.warning(
            "execution.unresolved", what=what, order_link_id=link, order_id=order_id, error=str(cause)
        )
        return OrderOutcome(Resolution.UNKNOWN, link, order_id, None, error, attempts.sends, attempts.lookups)

    def _now(self) -> int:
        return self.clock.now_ms()


def _require_id(order_id: str, order_link_id: str, what: str) -> None:
    if not order_id and not order_link_id:
        raise OrderValidationError(f"{what} needs an orderId or an orderLinkId")


def _amend_applied(request: AmendRequest, order: Order) -> bool:
    """Return whether `order` carries every value `request` asks for (amend targets are absolute)."""
    wanted = (
        (request.qty, order.qty),
        (request.price, order.price),
        (request.take_profit, order.take_profit),
        (request.stop_loss, order.stop_loss),
    )
    return all(asked is None or asked == held for asked, held in wanted)


def _closed(error: BybitAPIError, order: Order, what: str) -> BybitAPIError:
    """Return the refusal to report when the order closed before the request could act on it."""
    if not error.outcome_unknown:
        return error
    closed = BybitOrderNotFoundError(
        f"order {order.order_link_id or order.order_id} is {order.status.value}: nothing left to {what}"
    )
    closed.__cause__ = error
    return closed
