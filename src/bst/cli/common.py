"""What every command shares: settings and logging, output that survives pipes, clean error exits.

Kept light on purpose (`bst --help` imports only this): settings, logging and the error types
are imported when a command runs.

Output: on a terminal, Rich lays tables out for its width; piped or redirected, nothing is cut or
wrapped (no width limit, table titles on their own line, JSON as plain text). Logs: by default
the CLI writes none to stderr, so they never mix with progress or tables (they still go to
BYBIT_LOG_DIR when set); `bst -v ...` adds them to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from bst.domain.errors import (
    BstError,
    BybitAPIError,
    BybitAuthError,
    BybitConnectionError,
    BybitInvalidIntervalError,
    BybitSymbolNotFoundError,
    BybitTimeoutError,
    ConfigError,
    InvalidInputError,
    InvalidNumberError,
)

if TYPE_CHECKING:
    from bst.settings import Settings

T = TypeVar("T")

PIPE_WIDTH = 10_000
"""Console width when output is not a terminal: wide enough that no value is cut or wrapped."""


def _console(*, stderr: bool = False, highlight: bool = True) -> Console:
    console = Console(stderr=stderr, highlight=highlight, soft_wrap=stderr)
    if console.is_terminal:
        return console
    # Piped or redirected: a reader (a script, `less`, a file) wants whole values and whole
    # lines, whatever COLUMNS says.
    return Console(stderr=stderr, highlight=highlight, soft_wrap=True, width=PIPE_WIDTH)


console = _console()
err_console = _console(stderr=True, highlight=False)


@dataclass(slots=True)
class Options:
    """Options of the root command that every command honours."""

    verbose: bool = False


options = Options()


class CliError(Exception):
    """A failure already phrased for the user; printed as one line, exit code `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def settings(**overrides: Any) -> Settings:
    """Load settings and configure logging from them (to stderr only with `-v`)."""
    from bst.logs import configure_logging
    from bst.settings import load_settings

    loaded = load_settings(**overrides)
    log = loaded.logging
    json_format = loaded.log_json if loaded.log_json is not None else not sys.stderr.isatty()
    configure_logging(log.level, json_format=json_format, log_dir=log.log_dir, to_stderr=options.verbose)
    return loaded


def print_table(table: Table) -> None:
    """Print a table; off a terminal its title goes on its own line so it is never wrapped."""
    if not console.is_terminal and table.title:
        console.print(str(table.title), markup=False, highlight=False)
        table.title = None
    console.print(table)


def print_json(data: Any) -> None:
    """Print `data` as JSON (Decimals as strings, exactly as the exchange wrote them)."""
    text = json.dumps(data, default=str, indent=2)
    if console.is_terminal:
        console.print_json(text)
    else:
        console.print(text, markup=False, highlight=False, soft_wrap=True)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine as the process's event loop."""
    return asyncio.run(coro)


@contextlib.contextmanager
def stop_on_signals(cancel: bool = False) -> Iterator[asyncio.Event]:
    """Within a running loop, yield an event SIGINT/SIGTERM set (with `cancel`, they cancel the task).

    Installed before connecting, so a stop is always a clean one, never a hard kill.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    task = asyncio.current_task()
    signals = (signal.SIGINT, signal.SIGTERM)

    def on_signal() -> None:
        stop.set()
        if cancel and task is not None:
            task.cancel()

    installed = []
    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
    try:
        yield stop
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def describe_error(exc: BaseException) -> str:
    """Return the one line shown to the user for an expected failure."""
    if isinstance(exc, BybitSymbolNotFoundError):
        return f"unknown symbol: {exc} (check the symbol and --category)"
    if isinstance(exc, BybitInvalidIntervalError):
        return f"bad interval: {exc} (use 1 3 5 15 30 60 120 240 360 720 D W M)"
    if isinstance(exc, BybitAuthError):
        return f"authentication failed: {exc} (check BYBIT_API_KEY / BYBIT_API_SECRET and BYBIT_ENV)"
    if isinstance(exc, BybitConnectionError | BybitTimeoutError):
        return f"cannot reach the exchange: {exc} (check BYBIT_ENV / BYBIT_API_BASE_URL and the network)"
    if isinstance(exc, BybitAPIError | ConfigError | BstError | CliError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def run_app(app: typer.Typer) -> int:
    """Run the Typer app on sys.argv; return its exit code, printing expected failures as one line."""
    return run_app_with_args(app, None)


def run_app_with_args(app: typer.Typer, args: list[str] | None) -> int:
    """Run the Typer app on `args` (None: sys.argv); return its exit code, failures as one line."""
    try:
        app(args=args, prog_name="bst", standalone_mode=False)
    except typer.Exit as e:
        return int(e.exit_code)
    except typer.Abort:
        err_console.print("error: aborted")
        return 130
    except typer.TyperException as e:  # usage errors: unknown command or option, missing argument
        if type(e).__name__ == "NoArgsIsHelpError":  # `bst` or `bst market` alone: show the help
            console.print(e.format_message(), markup=False, highlight=False)
            return 0
        err_console.print(f"error: {e.format_message()}", markup=False)
        return e.exit_code if e.exit_code else 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except CliError as e:
        err_console.print(f"error: {e}", markup=False)
        return e.code
    except (InvalidNumberError, InvalidInputError) as e:  # a typed-in value bst cannot read: a usage error
        err_console.print(f"error: {e}", markup=False)
        return 2
    except (BstError, OSError) as e:
        err_console.print(f"error: {describe_error(e)}", markup=False)
        return 1
    return 0
