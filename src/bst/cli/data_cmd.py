"""`bst data list|show|verify|export`: see exactly what the local candle store holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.csv as pacsv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import typer
from rich.table import Table

from bst.cli import common
from bst.cli.download_cmd import DATA_DIR_OPTION, data_dir_of, parse_category, parse_when
from bst.data.arrays import KlineArrays
from bst.data.atomic import write_atomic
from bst.data.loader import DataNotFoundError, load_klines
from bst.data.manifest import SeriesKey
from bst.data.store import COMPRESSION, KlineStore
from bst.data.verify import iso_ms, verify_series
from bst.domain.market import Interval

data_app = typer.Typer(help="Inspect and export the local candle store.", no_args_is_help=True)

INTERVALS_FILTER = typer.Option([], "--interval", "-i", help="only these intervals (repeat)")
SYMBOLS_FILTER = typer.Argument(None, help="only these symbols (default: all)")
OUTPUT_OPTION = typer.Option(None, "--output", "-o", help="file to write (default: SYMBOL_INTERVAL.fmt)")


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def _store(data_dir: Path | None) -> KlineStore:
    return KlineStore(data_dir_of(common.settings(), data_dir))


def _selected(
    store: KlineStore, category: str | None, symbols: list[str] | None, intervals: list[str]
) -> list[SeriesKey]:
    cat = parse_category(category) if category else None
    wanted_symbols = {s.upper() for s in symbols or []}
    wanted_intervals = {Interval.parse(i) for i in intervals}
    return [
        k
        for k in store.list_series(cat)
        if (not wanted_symbols or k.symbol in wanted_symbols)
        and (not wanted_intervals or k.interval in wanted_intervals)
    ]


@data_app.command("list")
def list_series(
    category: str | None = typer.Option(None, "--category", "-c", help="only this category"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable JSON output"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """List every stored series: first/last bar, bars, known gaps, size on disk."""
    store = _store(data_dir)
    infos = [store.info(k) for k in _selected(store, category, None, [])]
    if as_json:
        rows = [
            {
                "category": i.key.category.value,
                "symbol": i.key.symbol,
                "interval": i.key.interval.value,
                "first_open_ms": i.first_open_ms,
                "last_open_ms": i.last_open_ms,
                "bars": i.bars,
                "gap_bars": i.gap_bars,
                "gap_ranges": i.gaps.to_json(),
                "covered": i.covered.to_json(),
                "files": i.files,
                "size_bytes": i.size_bytes,
            }
            for i in infos
        ]
        common.console.print_json(json.dumps(rows))
        return
    if not infos:
        common.console.print(f"no candles stored under {store.root} (fill it with `bst download`)")
        return
    table = Table(title=f"candles in {store.root}")
    for name, justify in (
        ("category", "left"),
        ("symbol", "left"),
        ("interval", "left"),
        ("first bar", "left"),
        ("last bar", "left"),
        ("bars", "right"),
        ("known gaps", "right"),
        ("size", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for i in infos:
        gaps = f"{i.gap_bars:,} bars in {len(i.gaps)}" if i.gaps else "0"
        table.add_row(
            i.key.category.value,
            i.key.symbol,
            i.key.interval.value,
            iso_ms(i.first_open_ms),
            iso_ms(i.last_open_ms),
            f"{i.bars:,}",
            gaps,
            _human_bytes(i.size_bytes),
        )
    common.console.print(table)


def _load(
    data_dir: Path | None,
    symbol: str,
    interval: str,
    category: str,
    since: str | None,
    until: str | None,
    from_1m: bool,
) -> tuple[KlineStore, KlineArrays]:
    store = _store(data_dir)
    start = parse_when(since, "--since") if since else None
    end = parse_when(until, "--until") if until else None
    if start is not None and end is not None and start >= end:
        raise common.CliError("--since must be before --until")
    try:
        bars = load_klines(
            symbol,
            Interval.parse(interval),
            start,
            end,
            category=parse_category(category),
            data_dir=store.data_dir,
            as_numpy=True,
            from_1m=True if from_1m else None,
        )
    except DataNotFoundError as e:
        raise common.CliError(str(e)) from None
    return store, bars


@data_app.command("show")
def show(
    symbol: str = typer.Argument(..., help="e.g. BTCUSDT"),
    interval: str = typer.Option("60", "--interval", "-i", help="1 3 5 15 30 60 120 240 360 720 D W M"),
    tail: int = typer.Option(20, "--tail", "-n", min=1, help="newest bars to show"),
    head: int = typer.Option(0, "--head", min=0, help="oldest bars to show instead"),
    since: str | None = typer.Option(None, "--since", help="from this time"),
    until: str | None = typer.Option(None, "--until", help="before this time"),
    category: str = typer.Option("linear", "--category", "-c", help="linear | spot | inverse"),
    from_1m: bool = typer.Option(False, "--from-1m", help="derive the interval from stored 1-minute bars"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Print stored bars of one series."""
    _, bars = _load(data_dir, symbol, interval, category, since, until, from_1m)
    picked = bars.take(slice(0, head)) if head else bars.tail(tail)
    table = Table(
        title=f"{category.lower()} {symbol.upper()} {Interval.parse(interval).value}: {len(bars):,} bars"
    )
    for name in ("open time (UTC)", "open", "high", "low", "close", "volume", "turnover"):
        table.add_column(name, justify="left" if name.startswith("open time") else "right")
    for i in range(len(picked)):
        t = datetime.fromtimestamp(int(picked.open_time_ms[i]) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(t, *(f"{float(col[i]):.10g}" for col in picked.columns()))
    common.console.print(table)


@data_app.command("verify")
def verify(
    symbols: list[str] | None = SYMBOLS_FILTER,
    intervals: list[str] = INTERVALS_FILTER,
    category: str | None = typer.Option(None, "--category", "-c", help="only this category"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Re-check order, duplicates and gaps of stored series against their manifests."""
    store = _store(data_dir)
    keys = _selected(store, category, symbols, intervals)
    if not keys:
        raise common.CliError(f"no matching series under {store.root}")
    table = Table(title="verify")
    for name in ("series", "bars", "known gaps", "result"):
        table.add_column(name)
    failed = 0
    for key in keys:
        result = verify_series(store, key)
        failed += not result.ok
        verdict = "[green]ok[/green]" if result.ok else "[red]FAIL[/red]: " + "; ".join(result.problems)
        if result.notes:
            verdict += " (" + "; ".join(result.notes) + ")"
        table.add_row(str(key), f"{result.bars:,}", f"{result.gap_bars:,}", verdict)
    common.console.print(table)
    if failed:
        raise common.CliError(f"{failed} of {len(keys)} series failed verification")


@data_app.command("export")
def export(
    symbol: str = typer.Argument(..., help="e.g. BTCUSDT"),
    interval: str = typer.Option("60", "--interval", "-i", help="1 3 5 15 30 60 120 240 360 720 D W M"),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv | parquet"),
    output: Path | None = OUTPUT_OPTION,
    since: str | None = typer.Option(None, "--since", help="from this time"),
    until: str | None = typer.Option(None, "--until", help="before this time"),
    category: str = typer.Option("linear", "--category", "-c", help="linear | spot | inverse"),
    from_1m: bool = typer.Option(False, "--from-1m", help="derive the interval from stored 1-minute bars"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Write stored bars to CSV (ISO UTC times) or Parquet (zstd), atomically."""
    kind = fmt.strip().lower()
    if kind not in ("csv", "parquet"):
        raise common.CliError(f"invalid --format {fmt!r}: use csv or parquet")
    _, bars = _load(data_dir, symbol, interval, category, since, until, from_1m)
    target = output or Path(f"{symbol.upper()}_{Interval.parse(interval).value}.{kind}")
    table = bars.to_arrow()

    def produce(temp: Path) -> None:
        if kind == "parquet":
            pq.write_table(table, temp, compression=COMPRESSION)
        else:
            pacsv.write_csv(table, temp)

    write_atomic(target, produce)
    common.console.print(f"wrote {len(bars):,} bars to {target}")


def register(app: typer.Typer) -> None:
    """Add the `data` group to the root app."""
    app.add_typer(data_app, name="data")
