"""`bst data list|show|verify|export`: see exactly what the local candle store holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from bst.app import candles
from bst.app.inputs import parse_intervals, parse_time
from bst.cli import common
from bst.domain.market import MARKET_DATA_CATEGORIES, Category, Interval, parse_symbol

data_app = typer.Typer(help="Inspect and export the local candle store.", no_args_is_help=True)

DATA_DIR_OPTION = typer.Option(None, "--data-dir", help="store directory (default: BYBIT_DATA_DIR)")
INTERVALS_FILTER = typer.Option([], "--interval", "-i", help="only these intervals (repeat)")
SYMBOLS_FILTER = typer.Argument(None, help="only these symbols (default: all)")
OUTPUT_OPTION = typer.Option(None, "--output", "-o", help="file to write (default: SYMBOL_INTERVAL.fmt)")
JSON_OPTION = typer.Option(False, "--json", help="machine-readable JSON output")


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def _category_filter(text: str | None) -> Category | None:
    return Category.parse(text, MARKET_DATA_CATEGORIES) if text else None


@data_app.command("list")
def list_series(
    category: str | None = typer.Option(None, "--category", "-c", help="only this category"),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """List every stored series: first/last bar, bars, known gaps, size on disk."""
    listing = candles.list_series(common.settings(), _category_filter(category), data_dir)
    infos = listing.series
    if as_json:
        common.print_json(
            [
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
        )
        return
    if not infos:
        common.console.print(
            f"no candles stored under {listing.root} (fill it with `bst download`)", soft_wrap=True
        )
        return
    table = Table(title=f"candles in {listing.root}")
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
            candles.iso_ms(i.first_open_ms),
            candles.iso_ms(i.last_open_ms),
            f"{i.bars:,}",
            gaps,
            _human_bytes(i.size_bytes),
        )
    common.print_table(table)


def _read(
    data_dir: Path | None,
    symbol: str,
    interval: str,
    category: str,
    since: str | None,
    until: str | None,
    from_1m: bool,
) -> tuple[candles.SeriesKey, candles.KlineArrays]:
    key = candles.SeriesKey(
        Category.parse(category, MARKET_DATA_CATEGORIES), parse_symbol(symbol), Interval.parse(interval)
    )
    start = parse_time(since, "--since") if since else None
    end = parse_time(until, "--until") if until else None
    bars = candles.read_series(common.settings(), key, start, end, from_1m=from_1m, data_dir=data_dir)
    return key, bars


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
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Print stored bars of one series."""
    key, bars = _read(data_dir, symbol, interval, category, since, until, from_1m)
    picked = bars.take(slice(0, head)) if head else bars.tail(tail)
    if as_json:
        names = ("open", "high", "low", "close", "volume", "turnover")
        common.print_json(
            [
                {"open_time_ms": int(picked.open_time_ms[i])}
                | {name: float(col[i]) for name, col in zip(names, picked.columns(), strict=True)}
                for i in range(len(picked))
            ]
        )
        return
    table = Table(title=f"{key.category.value} {key.symbol} {key.interval.value}: {len(bars):,} bars")
    for name in ("open time (UTC)", "open", "high", "low", "close", "volume", "turnover"):
        table.add_column(name, justify="left" if name.startswith("open time") else "right")
    for i in range(len(picked)):
        t = datetime.fromtimestamp(int(picked.open_time_ms[i]) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(t, *(f"{float(col[i]):.10g}" for col in picked.columns()))
    common.print_table(table)


@data_app.command("verify")
def verify(
    symbols: list[str] | None = SYMBOLS_FILTER,
    intervals: list[str] = INTERVALS_FILTER,
    category: str | None = typer.Option(None, "--category", "-c", help="only this category"),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Re-check order, duplicates and gaps of stored series against their manifests."""
    results = candles.verify(
        common.settings(),
        _category_filter(category),
        tuple(parse_symbol(s) for s in symbols or []),
        parse_intervals(intervals),
        data_dir,
    )
    failed = sum(not r.ok for r in results)
    if as_json:
        common.print_json(
            [
                {
                    "series": str(r.key),
                    "ok": r.ok,
                    "bars": r.bars,
                    "gap_bars": r.gap_bars,
                    "problems": r.problems,
                    "notes": r.notes,
                }
                for r in results
            ]
        )
    else:
        table = Table(title="verify")
        for name in ("series", "bars", "known gaps", "result"):
            table.add_column(name)
        for result in results:
            verdict = "[green]ok[/green]" if result.ok else "[red]FAIL[/red]: " + "; ".join(result.problems)
            if result.notes:
                verdict += " (" + "; ".join(result.notes) + ")"
            table.add_row(str(result.key), f"{result.bars:,}", f"{result.gap_bars:,}", verdict)
        common.print_table(table)
    if failed:
        raise common.CliError(f"{failed} of {len(results)} series failed verification")


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
    kind = candles.parse_export_format(fmt)
    key, bars = _read(data_dir, symbol, interval, category, since, until, from_1m)
    target = output or Path(f"{key.symbol}_{key.interval.value}.{kind}")
    candles.export_series(bars, target, kind)
    common.console.print(f"wrote {len(bars):,} bars to {target}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the `data` group to the root app."""
    app.add_typer(data_app, name="data")
