"""`bst sim`: run the local Bybit-v5-compatible exchange until Ctrl-C / SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer

from bst.bybit.endpoints import IP_LIMIT_REQUESTS, IP_LIMIT_WINDOW_S, SIM_DEFAULT_PORT
from bst.cli import common
from bst.domain.clock import Clock, ManualClock
from bst.sim.faults import FaultConfig, FaultConfigError
from bst.sim.server import SimServer, exposure_warning
from bst.sim.state import SimConfig
from bst.sim.trading_desk import ApiAccount, TradingConfig, install

_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")


API_KEYS_OPTION = typer.Option([], "--api-key", help="an account's API key (repeat for more accounts)")
API_SECRETS_OPTION = typer.Option([], "--api-secret", help="its API secret (one per --api-key)")
BALANCES_OPTION = typer.Option(
    [], "--balance", help="USDT each account starts with (one for all, or one per --api-key; default 100000)"
)
ADMIN_TOKEN_OPTION = typer.Option(
    None,
    "--admin-token",
    envvar="BST_SIM_ADMIN_TOKEN",
    help="require this token (Authorization: Bearer ...) on the admin routes, from any address",
    show_default=False,
)
STATE_FILE_OPTION = typer.Option(
    None, "--state-file", help="keep accounts, orders and positions here across sim restarts"
)


def parse_ip_limit(text: str) -> tuple[int, float]:
    """Return (requests, window_s) from "600/5s", "600/5", "100/500ms"; "off" or "0" disables the limit."""
    if text.strip().lower() in ("off", "0", "none"):
        return 0, IP_LIMIT_WINDOW_S
    match = _LIMIT.match(text)
    if match is None:
        raise common.CliError(f"invalid --ip-limit {text!r}: use REQUESTS/WINDOW such as 600/5s, or off")
    requests = int(match.group(1))
    window_s = float(match.group(2)) / (1000.0 if match.group(3) == "ms" else 1.0)
    if requests <= 0 or window_s <= 0:
        raise common.CliError(f"invalid --ip-limit {text!r}: requests and window must be positive")
    return requests, window_s


def sim(
    port: int = typer.Option(SIM_DEFAULT_PORT, "--port", "-p", min=0, max=65535, help="port (0 = any free)"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    seed: int = typer.Option(0, "--seed", min=0, help="market generator seed (same seed, same markets)"),
    ip_limit: str = typer.Option(
        f"{IP_LIMIT_REQUESTS}/{IP_LIMIT_WINDOW_S:g}s",
        "--ip-limit",
        help="IP rate limit REQUESTS/WINDOW, or off",
    ),
    ip_ban_s: float = typer.Option(
        0.0, "--ip-ban-s", min=0.0, help="keep refusing an IP this long after a breach"
    ),
    latency_ms: float = typer.Option(0.0, "--latency-ms", min=0.0, help="added latency per request"),
    latency_jitter_ms: float = typer.Option(0.0, "--latency-jitter-ms", min=0.0, help="random extra latency"),
    error_rate: float = typer.Option(
        0.0, "--error-rate", min=0.0, max=1.0, help="share of 10016/10000 replies"
    ),
    http_5xx_rate: float = typer.Option(0.0, "--http-5xx-rate", min=0.0, max=1.0, help="share of HTTP 5xx"),
    timeout_rate: float = typer.Option(0.0, "--timeout-rate", min=0.0, max=1.0, help="share of held replies"),
    timeout_hold_s: float = typer.Option(30.0, "--timeout-hold-s", min=0.0, help="how long a reply is held"),
    drop_rate: float = typer.Option(0.0, "--drop-rate", min=0.0, max=1.0, help="share of cut connections"),
    rate_limit_rate: float = typer.Option(0.0, "--rate-limit-rate", min=0.0, max=1.0, help="share of 10006"),
    ip_ban_rate: float = typer.Option(0.0, "--ip-ban-rate", min=0.0, max=1.0, help="share of HTTP 403"),
    fault_seed: int | None = typer.Option(
        None, "--fault-seed", min=0, help="fault stream seed (default --seed)"
    ),
    no_gaps: bool = typer.Option(False, "--no-gaps", help="no maintenance gaps in the history"),
    access_log: bool = typer.Option(False, "--access-log", help="log every request"),
    now: str | None = typer.Option(
        None, "--now", help="freeze the sim clock at this UTC time (YYYY-MM-DD[THH:MM[:SS]] or epoch ms)"
    ),
    api_keys: list[str] = API_KEYS_OPTION,
    api_secrets: list[str] = API_SECRETS_OPTION,
    balances: list[str] = BALANCES_OPTION,
    state_file: Path | None = STATE_FILE_OPTION,
    order_latency_ms: int = typer.Option(
        0, "--order-latency-ms", min=0, help="delay before orders reach the book"
    ),
    admin_token: str | None = ADMIN_TOKEN_OPTION,
) -> None:
    """Run `bst sim`, a local Bybit v5 exchange (REST and WebSocket on one port), until stopped."""
    requests, window_s = parse_ip_limit(ip_limit)
    clock = ManualClock(parse_instant(now)) if now is not None else None
    try:
        faults = FaultConfig(
            latency_ms=latency_ms,
            latency_jitter_ms=latency_jitter_ms,
            error_rate=error_rate,
            http_5xx_rate=http_5xx_rate,
            timeout_rate=timeout_rate,
            timeout_hold_s=timeout_hold_s,
            drop_rate=drop_rate,
            rate_limit_rate=rate_limit_rate,
            ip_ban_rate=ip_ban_rate,
            seed=fault_seed,
        )
    except FaultConfigError as e:
        raise common.CliError(str(e)) from None
    if admin_token is not None and not admin_token.strip():
        raise common.CliError("--admin-token must not be empty", code=2)
    config = SimConfig(
        host=host,
        port=port,
        seed=seed,
        ip_limit_requests=requests,
        ip_limit_window_s=window_s,
        ip_ban_s=ip_ban_s,
        faults=faults,
        gaps=not no_gaps,
        access_log=access_log,
        admin_token=admin_token,
    )
    trading = trading_config(api_keys, api_secrets, balances, state_file, order_latency_ms)
    common.settings()
    common.run_async(serve(config, clock, trading))


def trading_config(
    api_keys: list[str], api_secrets: list[str], balances: list[str], state_file: Path | None, latency_ms: int
) -> TradingConfig:
    """Return the sim's trading accounts from the CLI flags, or raise CliError saying what is wrong."""
    if len(api_keys) != len(api_secrets):
        raise common.CliError(
            f"give one --api-secret per --api-key (got {len(api_keys)} keys, {len(api_secrets)} secrets)"
        )
    if len(set(api_keys)) != len(api_keys):
        raise common.CliError("each --api-key must be different")
    if balances and len(balances) not in (1, len(api_keys)):
        raise common.CliError("give one --balance for all accounts or one per --api-key")
    amounts: list[Decimal] = []
    for text in balances or ["100000"]:
        try:
            amount = Decimal(text)
        except InvalidOperation:
            amount = Decimal(-1)
        if not amount.is_finite() or amount < 0:
            raise common.CliError(f"invalid --balance {text!r}: give a USDT amount like 100000")
        amounts.append(amount)
    if len(amounts) == 1:
        amounts *= max(1, len(api_keys))
    accounts = tuple(
        ApiAccount(key, secret, {"USDT": amount})
        for key, secret, amount in zip(api_keys, api_secrets, amounts, strict=False)
    )
    return TradingConfig(accounts=accounts, state_file=state_file, latency_ms=latency_ms)


def parse_instant(text: str) -> int:
    """Return epoch ms of "2024-06-01", "2024-06-01T12:00[:30]" (UTC) or of an epoch-ms number."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise common.CliError(
            f"invalid --now {text!r}: use YYYY-MM-DD[THH:MM[:SS]] (UTC) or epoch ms"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


async def serve(config: SimConfig, clock: Clock | None = None, trading: TradingConfig | None = None) -> None:
    """Start the sim, print where it listens, and stop it cleanly on SIGINT/SIGTERM."""
    server = SimServer(config, clock)
    install(server.state, trading or TradingConfig())
    await server.start()
    warning = exposure_warning(config, server.port)
    if warning is not None:
        common.err_console.print(warning, markup=False)
    limit = (
        f"{config.ip_limit_requests} requests / {config.ip_limit_window_s:g} s per IP"
        if config.ip_limit_requests
        else "no IP limit"
    )
    common.console.print(
        f"bst sim listening: REST {server.base_url}  WebSocket {server.ws_url}  "
        f"(seed {config.seed}, {limit}{', faults on' if config.faults.active else ''}"
        f"{', clock frozen at ' + str(clock.now_ms()) if clock is not None else ''}"
        f"{accounts_note(trading)}); Ctrl-C stops it",
        soft_wrap=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await server.stop()
    common.console.print("bst sim stopped", soft_wrap=True)


def accounts_note(trading: TradingConfig | None) -> str:
    """Return how many trading accounts the sim serves, for the start-up line (keys never printed)."""
    count = len(trading.accounts) if trading is not None else 0
    if count == 0:
        return ", no trading accounts: add --api-key/--api-secret to trade"
    persisted = f", state in {trading.state_file}" if trading is not None and trading.state_file else ""
    return f", {count} trading account{'s' if count > 1 else ''}{persisted}"


def register(app: typer.Typer) -> None:
    """Add the `sim` command to the root app."""
    app.command("sim")(sim)
