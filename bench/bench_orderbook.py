"""Order-book throughput: raw JSON text -> parsed -> book applied -> imbalance updated, per message.

Streams:
- a deterministic, Bybit-shaped `orderbook.50.BTCUSDT` delta stream (linear, tick 0.10, sizes with 3
  decimals, about 7 level changes per message, the top of the book busiest, price moves that delete
  the best level and pull a new level in at the far end so the book stays exactly 50 deep);
- the real Bybit `orderbook.500.XRPUSDT` dump from ../shared/data (1 snapshot + 49 deltas of about 60
  levels each), replayed many times.

Side by side on the same messages: bst (PublicDecoder -> OrderBook.apply -> imbalance(10)), pybit's
own order-book handling (its `_on_message` path: json.loads, `_process_delta_orderbook`, the deepcopy
it hands to callbacks; and its book update alone), and the `order_book` C extension applying the
same level updates (orjson-parsed, float keys). p50/p99 are per-message processing times of bst.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
import zipfile
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

import orjson

from bst.bybit.codec.ws_public import PublicDecoder
from bst.domain.market import Category
from bst.domain.orderbook import OrderBook

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
OB500_ZIP = SHARED / "data" / "nautilus_bybit_xrpusdt-ob500_2024-12-01.data.zip"
DEPTH = 50
IMBALANCE_LEVELS = 10


def generate_stream(count: int, seed: int = 7, *, depth: int = DEPTH) -> tuple[bytes, list[bytes]]:
    """Return (snapshot, deltas) of a realistic deterministic orderbook.50 stream, as raw JSON bytes."""
    rnd = random.Random(seed)
    mid = 3_000_000  # ticks of 0.10 -> 300000.0
    bids = {mid - i: rnd.randint(1, 20_000) for i in range(1, depth + 1)}
    asks = {mid + i: rnd.randint(1, 20_000) for i in range(depth)}

    def price(tick: int) -> str:
        return f"{tick // 10}.{tick % 10}0"

    def size(lots: int) -> str:
        return f"{lots // 1000}.{lots % 1000:03d}" if lots else "0"

    def message(kind: str, b: dict[int, int], a: dict[int, int], u: int, ts: int) -> bytes:
        return orjson.dumps(
            {
                "topic": f"orderbook.{depth}.BTCUSDT",
                "type": kind,
                "ts": ts,
                "data": {
                    "s": "BTCUSDT",
                    "b": [[price(p), size(q)] for p, q in b.items()],
                    "a": [[price(p), size(q)] for p, q in a.items()],
                    "u": u,
                    "seq": 60_000_000_000 + u * 7,
                },
                "cts": ts - 2,
            }
        )

    ts = 1_700_000_000_000
    update_id = 1_000_000
    snapshot = message(
        "snapshot", dict(sorted(bids.items(), reverse=True)), dict(sorted(asks.items())), update_id, ts
    )
    deltas: list[bytes] = []
    for _ in range(count):
        update_id += 1
        ts += 20
        changed_b: dict[int, int] = {}
        changed_a: dict[int, int] = {}
        for _ in range(min(30, 1 + int(rnd.expovariate(1 / 6)))):
            is_bid = rnd.random() < 0.5
            book, changed = (bids, changed_b) if is_bid else (asks, changed_a)
            ordered = sorted(book, reverse=is_bid)
            tick = ordered[min(int(rnd.expovariate(0.25)), len(ordered) - 1)]
            book[tick] = changed[tick] = rnd.randint(1, 20_000)
        if rnd.random() < 0.12:  # the best level on one side is taken; the far end refills
            is_bid = rnd.random() < 0.5
            book, changed = (bids, changed_b) if is_bid else (asks, changed_a)
            best = max(book) if is_bid else min(book)
            del book[best]
            changed[best] = 0
            far = (min(book) - 1) if is_bid else (max(book) + 1)
            book[far] = changed[far] = rnd.randint(1, 20_000)
        deltas.append(message("delta", changed_b, changed_a, update_id, ts))
    return snapshot, deltas


def load_ob500() -> tuple[bytes, list[bytes]]:
    """Return (snapshot, deltas) of the real Bybit XRPUSDT ob500 dump."""
    with zipfile.ZipFile(OB500_ZIP) as zf:
        lines = zf.read(zf.namelist()[0]).splitlines()
    return lines[0], [line for line in lines[1:] if line.strip()]


def bst_runner(
    snapshot: bytes, deltas: Sequence[bytes], depth: int, stage: str = "full"
) -> Callable[[], None]:
    """Return a run over all deltas with bst: decode only, decode + apply, or + imbalance ("full")."""

    def run() -> None:
        decoder = PublicDecoder(Category.LINEAR)
        decode = decoder.decode
        book = OrderBook("X", depth)
        book.apply(decode(snapshot, 0))  # type: ignore[arg-type]
        apply = book.apply
        imbalance = book.imbalance
        if stage == "decode":
            for raw in deltas:
                decode(raw, 0)
        elif stage == "apply":
            for raw in deltas:
                apply(decode(raw, 0))  # type: ignore[arg-type]
        else:
            for raw in deltas:
                apply(decode(raw, 0))  # type: ignore[arg-type]
                imbalance(IMBALANCE_LEVELS)
        if stage != "decode" and not book.is_valid:
            raise RuntimeError(f"bst book went invalid: {book.invalid_reason}")

    return run


def bst_latencies(snapshot: bytes, deltas: Sequence[bytes], depth: int) -> list[int]:
    """Return the per-message processing time (ns) of bst for each delta."""
    decoder = PublicDecoder(Category.LINEAR)
    book = OrderBook("X", depth)
    book.apply(decoder.decode(snapshot, 0))  # type: ignore[arg-type]
    clock = time.perf_counter_ns
    out = []
    for raw in deltas:
        start = clock()
        book.apply(decoder.decode(raw, 0))  # type: ignore[arg-type]
        book.imbalance(IMBALANCE_LEVELS)
        out.append(clock() - start)
    return out


def pybit_runner(snapshot: bytes, deltas: Sequence[bytes], *, book_only: bool) -> Callable[[], None]:
    """Return a run over all deltas through pybit's own WebSocket message handling (no socket)."""
    from pybit._websocket_stream import _V5WebSocketManager

    topic = orjson.loads(snapshot)["topic"]
    snap_text = snapshot.decode()
    texts = [d.decode() for d in deltas]

    def run() -> None:
        manager = _V5WebSocketManager("bench", testnet=False)
        manager._set_callback(topic, lambda message: None)
        if book_only:
            process = manager._process_delta_orderbook
            process(orjson.loads(snapshot), topic)
            for raw in deltas:
                process(orjson.loads(raw), topic)
        else:
            manager._on_message(snap_text)
            for text in texts:
                manager._on_message(text)

    return run


def pybit_imbalance_runner(snapshot: bytes, deltas: Sequence[bytes]) -> Callable[[], None]:
    """Return pybit's book update plus the sort a pybit user needs for a top-10 imbalance."""
    from pybit._websocket_stream import _V5WebSocketManager

    topic = orjson.loads(snapshot)["topic"]

    def run() -> None:
        manager = _V5WebSocketManager("bench", testnet=False)
        process = manager._process_delta_orderbook
        process(orjson.loads(snapshot), topic)
        for raw in deltas:
            process(orjson.loads(raw), topic)
            book = manager.data[topic]
            bids = sorted(book["b"], key=lambda lv: float(lv[0]), reverse=True)[:IMBALANCE_LEVELS]
            asks = sorted(book["a"], key=lambda lv: float(lv[0]))[:IMBALANCE_LEVELS]
            bid = sum(float(q) for _, q in bids)
            ask = sum(float(q) for _, q in asks)
            _ = bid / (bid + ask)

    return run


def cext_runner(snapshot: bytes, deltas: Sequence[bytes], *, decimal_keys: bool) -> Callable[[], None]:
    """Return the `order_book` C extension applying the same updates (+ top-10 imbalance)."""
    from order_book import OrderBook as CBook

    num = Decimal if decimal_keys else float

    def run() -> None:
        book = CBook()
        data = orjson.loads(snapshot)["data"]
        book.bids = {num(p): num(q) for p, q in data["b"]}
        book.asks = {num(p): num(q) for p, q in data["a"]}
        for raw in deltas:
            data = orjson.loads(raw)["data"]
            for side, levels in ((book.bids, data["b"]), (book.asks, data["a"])):
                for p, q in levels:
                    if q == "0":
                        del side[num(p)]
                    else:
                        side[num(p)] = num(q)
            bid = sum(book.bids.index(i)[1] for i in range(min(IMBALANCE_LEVELS, len(book.bids))))
            ask = sum(book.asks.index(i)[1] for i in range(min(IMBALANCE_LEVELS, len(book.asks))))
            _ = bid / (bid + ask)

    return run


def best_rate(run: Callable[[], None], messages: int, repeat: int = 5) -> float:
    """Return the best messages/s over `repeat` runs (GC enabled, as in production)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return messages / best


def _percentile(values: Sequence[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


def report(
    name: str, snapshot: bytes, deltas: Sequence[bytes], depth: int, passes: int = 1, slow_share: float = 0.1
) -> None:
    """Print the side-by-side figures for one stream, replayed `passes` times (re-snapshot each pass).

    The slow peers (pybit) run on `slow_share` of the work (fewer deltas or passes) to keep the
    benchmark short; a rate is a rate.
    """

    def rate(
        make: Callable[[Sequence[bytes]], Callable[[], None]], slow: bool = False, repeat: int = 5
    ) -> float:
        use, times = list(deltas), passes
        if slow:
            if passes > 1:
                times = max(1, int(passes * slow_share))
            else:
                use = use[: max(1, int(len(use) * slow_share))]
        one = make(use)

        def run() -> None:
            for _ in range(times):
                one()

        return best_rate(run, len(use) * times, 2 if slow else repeat)

    count = len(deltas) * passes
    parsed = [orjson.loads(d)["data"] for d in deltas]
    levels = statistics.mean(len(d["b"]) + len(d["a"]) for d in parsed)
    size = statistics.mean(len(d) for d in deltas)
    print(f"\n### {name}: {count:,} delta messages, {levels:.1f} level changes and {size:.0f} bytes each")
    ours = rate(lambda d: bst_runner(snapshot, d, depth))
    rows = [
        ("bst: decode -> OrderBook.apply -> imbalance(10)  [the target path]", ours),
        (
            "  bst: decode only (orjson + typed BookUpdate)",
            rate(lambda d: bst_runner(snapshot, d, depth, "decode")),
        ),
        ("  bst: decode -> OrderBook.apply", rate(lambda d: bst_runner(snapshot, d, depth, "apply"))),
        (
            "pybit as shipped (_on_message: json, book, deepcopy)",
            rate(lambda d: pybit_runner(snapshot, d, book_only=False), slow=True),
        ),
        (
            "pybit book update only (orjson + _process_delta_orderbook)",
            rate(lambda d: pybit_runner(snapshot, d, book_only=True), slow=True),
        ),
        (
            "pybit book update + the sort an imbalance(10) needs",
            rate(lambda d: pybit_imbalance_runner(snapshot, d), slow=True),
        ),
        (
            "order_book C ext, float keys (orjson + set/del + imbalance)",
            rate(lambda d: cext_runner(snapshot, d, decimal_keys=False)),
        ),
        (
            "order_book C ext, Decimal keys (orjson + set/del + imbalance)",
            rate(lambda d: cext_runner(snapshot, d, decimal_keys=True)),
        ),
    ]
    for label, value in rows:
        ratio = "" if label.startswith("  bst") else f"   bst is x{ours / value:.2f}"
        print(f"  {label:70s} {value:>11,.0f} msg/s{ratio}")
    latencies: list[int] = []
    for _ in range(passes):
        latencies += bst_latencies(snapshot, deltas, depth)
    print(
        f"  bst per-message processing time: p50 {_percentile(latencies, 0.50):.1f} us, "
        f"p99 {_percentile(latencies, 0.99):.1f} us, p99.9 {_percentile(latencies, 0.999):.1f} us, "
        f"max {max(latencies) / 1000:.1f} us"
    )


def main() -> None:
    """Print the order-book throughput figures."""
    gc.collect()
    snapshot, deltas = generate_stream(200_000)
    report("generated orderbook.50 BTCUSDT", snapshot, deltas, DEPTH)
    if OB500_ZIP.is_file():
        snap500, deltas500 = load_ob500()
        report("real Bybit orderbook.500 XRPUSDT dump (2024-12-01), 400 passes", snap500, deltas500, 500, 400)
    else:
        print(f"\n(skipped the ob500 replay: {OB500_ZIP} not found)")


if __name__ == "__main__":
    main()
