"""`bst sim`: run the local Bybit-v5-compatible exchange until Ctrl-C / SIGTERM."""

from __future__ import annotations

from pathlib import Path

import typer

from bst.app.simulator import (
    DEFAULT_IP_LIMIT,
    SIM_DEFAULT_PORT,
    SimLaunch,
    SimOptions,
    SimStarted,
    plan_sim,
    serve_sim,
)
from bst.cli import common

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
    None,
    "--state-file",
    help="keep accounts, orders and positions here across restarts and crashes (with a journal beside it)",
)
SNAPSHOT_EVERY_OPTION = typer.Option(
    30.0, "--snapshot-every-s", min=0.1, help="rewrite the state file (and trim its journal) this often"
)


def sim(
    port: int = typer.Option(SIM_DEFAULT_PORT, "--port", "-p", min=0, max=65535, help="port (0 = any free)"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    seed: int = typer.Option(0, "--seed", min=0, help="market generator seed (same seed, same markets)"),
    ip_limit: str = typer.Option(
        DEFAULT_IP_LIMIT, "--ip-limit", help="IP rate limit REQUESTS/WINDOW, or off"
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
    access_log: bool = typer.Option(False, "--access-log", help="log every request (to stderr)"),
    now: str | None = typer.Option(
        None, "--now", help="freeze the sim clock at this UTC time (YYYY-MM-DD[THH:MM[:SS]] or epoch ms)"
    ),
    api_keys: list[str] = API_KEYS_OPTION,
    api_secrets: list[str] = API_SECRETS_OPTION,
    balances: list[str] = BALANCES_OPTION,
    state_file: Path | None = STATE_FILE_OPTION,
    snapshot_every_s: float = SNAPSHOT_EVERY_OPTION,
    order_latency_ms: int = typer.Option(
        0, "--order-latency-ms", min=0, help="delay before orders reach the book"
    ),
    admin_token: str | None = ADMIN_TOKEN_OPTION,
) -> None:
    """Run `bst sim`, a local Bybit v5 exchange (REST and WebSocket on one port), until stopped."""
    if admin_token is not None and not admin_token.strip():
        raise common.CliError("--admin-token must not be empty", code=2)
    launch = plan_sim(
        SimOptions(
            host=host,
            port=port,
            seed=seed,
            ip_limit=ip_limit,
            ip_ban_s=ip_ban_s,
            latency_ms=latency_ms,
            latency_jitter_ms=latency_jitter_ms,
            error_rate=error_rate,
            http_5xx_rate=http_5xx_rate,
            timeout_rate=timeout_rate,
            timeout_hold_s=timeout_hold_s,
            drop_rate=drop_rate,
            rate_limit_rate=rate_limit_rate,
            ip_ban_rate=ip_ban_rate,
            fault_seed=fault_seed,
            gaps=not no_gaps,
            access_log=access_log,
            now=now,
            api_keys=tuple(api_keys),
            api_secrets=tuple(api_secrets),
            balances=tuple(balances),
            state_file=state_file,
            snapshot_every_s=snapshot_every_s,
            order_latency_ms=order_latency_ms,
            admin_token=admin_token,
        )
    )
    if access_log:  # the access log is a log stream the user asked for: show it
        common.options.verbose = True
    common.settings()
    common.run_async(_serve(launch))
    common.console.print("bst sim stopped", soft_wrap=True)


async def _serve(launch: SimLaunch) -> None:
    with common.stop_on_signals() as stop:
        await serve_sim(launch, stop, _print_started)


def _print_started(started: SimStarted) -> None:
    if started.exposure_warning is not None:
        common.err_console.print(started.exposure_warning, markup=False)
    limit = (
        f"{started.ip_limit_requests} requests / {started.ip_limit_window_s:g} s per IP"
        if started.ip_limit_requests
        else "no IP limit"
    )
    common.console.print(
        f"bst sim listening: REST {started.base_url}  WebSocket {started.ws_url}  "
        f"(seed {started.seed}, {limit}{', faults on' if started.faults_on else ''}"
        f"{', clock frozen at ' + str(started.frozen_at_ms) if started.frozen_at_ms is not None else ''}"
        f"{accounts_note(started)}); Ctrl-C stops it",
        soft_wrap=True,
    )


def accounts_note(started: SimStarted) -> str:
    """Return how many trading accounts the sim serves, for the start-up line (keys never printed)."""
    if started.accounts == 0:
        return ", no trading accounts: add --api-key/--api-secret to trade"
    persisted = f", state in {started.state_file}" if started.state_file else ""
    return f", {started.accounts} trading account{'s' if started.accounts > 1 else ''}{persisted}"


def register(app: typer.Typer) -> None:
    """Add the `sim` command to the root app."""
    app.command("sim")(sim)
