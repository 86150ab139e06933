"""Launching `bst sim`: its options checked and turned into `SimConfig`/`TradingConfig`, then served.

`SimOptions` holds what a user can set (the CLI's flags, one field each); `plan_sim` checks them
and returns a `SimLaunch`; `serve_sim` runs the server until the caller's `stop` is set. The demo
starts a sim in a background thread with `start_sim_in_thread`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bst.app.inputs import parse_time
from bst.bybit.endpoints import IP_LIMIT_REQUESTS, IP_LIMIT_WINDOW_S, SIM_DEFAULT_PORT
from bst.domain.clock import Clock, ManualClock
from bst.domain.errors import ConfigError
from bst.sim.faults import FaultConfig, FaultConfigError
from bst.sim.server import SimServer, exposure_warning
from bst.sim.state import SimConfig
from bst.sim.trading_desk import ApiAccount, TradingConfig, install

__all__ = [
    "DEFAULT_IP_LIMIT",
    "SIM_DEFAULT_PORT",
    "FaultConfig",
    "SimLaunch",
    "SimOptions",
    "SimServer",
    "SimStarted",
    "parse_ip_limit",
    "plan_sim",
    "serve_sim",
    "start_sim_in_thread",
    "trading_config",
]

DEFAULT_IP_LIMIT = f"{IP_LIMIT_REQUESTS}/{IP_LIMIT_WINDOW_S:g}s"
"""Bybit's IP limit, as `--ip-limit` spells it."""
DEFAULT_BALANCE_USDT = "100000"

_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")


def parse_ip_limit(text: str) -> tuple[int, float]:
    """Return (requests, window_s) from "600/5s", "600/5", "100/500ms"; "off" or "0" disables the limit."""
    if text.strip().lower() in ("off", "0", "none"):
        return 0, IP_LIMIT_WINDOW_S
    match = _LIMIT.match(text)
    if match is None:
        raise ConfigError(f"invalid --ip-limit {text!r}: use REQUESTS/WINDOW such as 600/5s, or off")
    requests = int(match.group(1))
    window_s = float(match.group(2)) / (1000.0 if match.group(3) == "ms" else 1.0)
    if requests <= 0 or window_s <= 0:
        raise ConfigError(f"invalid --ip-limit {text!r}: requests and window must be positive")
    return requests, window_s


def trading_config(
    api_keys: Sequence[str],
    api_secrets: Sequence[str],
    balances: Sequence[str],
    state_file: Path | None,
    latency_ms: int,
) -> TradingConfig:
    """Return the sim's trading accounts from the flags, or raise ConfigError saying what is wrong."""
    if len(api_keys) != len(api_secrets):
        raise ConfigError(
            f"give one --api-secret per --api-key (got {len(api_keys)} keys, {len(api_secrets)} secrets)"
        )
    if len(set(api_keys)) != len(api_keys):
        raise ConfigError("each --api-key must be different")
    if balances and len(balances) not in (1, len(api_keys)):
        raise ConfigError("give one --balance for all accounts or one per --api-key")
    amounts: list[Decimal] = []
    for text in balances or [DEFAULT_BALANCE_USDT]:
        try:
            amount = Decimal(text)
        except InvalidOperation:
            amount = Decimal(-1)
        if not amount.is_finite() or amount < 0:
            raise ConfigError(f"invalid --balance {text!r}: give a USDT amount like 100000")
        amounts.append(amount)
    if len(amounts) == 1:
        amounts *= max(1, len(api_keys))
    accounts = tuple(
        ApiAccount(key, secret, {"USDT": amount})
        for key, secret, amount in zip(api_keys, api_secrets, amounts, strict=False)
    )
    return TradingConfig(accounts=accounts, state_file=state_file, latency_ms=latency_ms)


@dataclass(frozen=True, slots=True)
class SimOptions:
    """Everything a user can set for `bst sim` (text where the CLI takes text)."""

    host: str = "127.0.0.1"
    port: int = SIM_DEFAULT_PORT
    seed: int = 0
    ip_limit: str = DEFAULT_IP_LIMIT
    ip_ban_s: float = 0.0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_rate: float = 0.0
    http_5xx_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_hold_s: float = 30.0
    drop_rate: float = 0.0
    rate_limit_rate: float = 0.0
    ip_ban_rate: float = 0.0
    fault_seed: int | None = None
    gaps: bool = True
    access_log: bool = False
    now: str | None = None
    api_keys: tuple[str, ...] = ()
    api_secrets: tuple[str, ...] = field(default=(), repr=False)
    balances: tuple[str, ...] = ()
    state_file: Path | None = None
    snapshot_every_s: float = 30.0
    order_latency_ms: int = 0
    admin_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class SimLaunch:
    """A checked sim: server config, the frozen clock when `--now` was given, trading accounts."""

    config: SimConfig
    clock: Clock | None
    trading: TradingConfig


def plan_sim(options: SimOptions) -> SimLaunch:
    """Return the sim the options describe, or raise ConfigError naming the first bad one."""
    requests, window_s = parse_ip_limit(options.ip_limit)
    clock = ManualClock(parse_time(options.now, "--now")) if options.now is not None else None
    try:
        faults = FaultConfig(
            latency_ms=options.latency_ms,
            latency_jitter_ms=options.latency_jitter_ms,
            error_rate=options.error_rate,
            http_5xx_rate=options.http_5xx_rate,
            timeout_rate=options.timeout_rate,
            timeout_hold_s=options.timeout_hold_s,
            drop_rate=options.drop_rate,
            rate_limit_rate=options.rate_limit_rate,
            ip_ban_rate=options.ip_ban_rate,
            seed=options.fault_seed,
        )
    except FaultConfigError as e:
        raise ConfigError(str(e)) from None
    config = SimConfig(
        host=options.host,
        port=options.port,
        seed=options.seed,
        ip_limit_requests=requests,
        ip_limit_window_s=window_s,
        ip_ban_s=options.ip_ban_s,
        faults=faults,
        gaps=options.gaps,
        access_log=options.access_log,
        admin_token=options.admin_token,
    )
    trading = trading_config(
        options.api_keys, options.api_secrets, options.balances, options.state_file, options.order_latency_ms
    )
    trading = replace(trading, save_every_s=options.snapshot_every_s)
    return SimLaunch(config, clock, trading)


@dataclass(frozen=True, slots=True)
class SimStarted:
    """Where a started sim listens and what it serves (API keys never included)."""

    base_url: str
    ws_url: str
    seed: int
    ip_limit_requests: int
    ip_limit_window_s: float
    faults_on: bool
    frozen_at_ms: int | None
    accounts: int
    state_file: Path | None
    exposure_warning: str | None
    """Set when the sim listens beyond loopback: who can reach it and what they can do."""


async def serve_sim(
    launch: SimLaunch, stop: asyncio.Event, on_started: Callable[[SimStarted], None] | None = None
) -> None:
    """Run the sim until `stop` is set, then stop it cleanly (ConfigError when it cannot listen)."""
    server = SimServer(launch.config, launch.clock)
    install(server.state, launch.trading)
    await server.start()
    try:
        if on_started is not None:
            config = launch.config
            on_started(
                SimStarted(
                    server.base_url,
                    server.ws_url,
                    config.seed,
                    config.ip_limit_requests,
                    config.ip_limit_window_s,
                    config.faults.active,
                    launch.clock.now_ms() if launch.clock is not None else None,
                    len(launch.trading.accounts),
                    launch.trading.state_file,
                    exposure_warning(config, server.port),
                )
            )
        await stop.wait()
    finally:
        await server.stop()


def start_sim_in_thread(
    seed: int, ports: Sequence[int] = (SIM_DEFAULT_PORT, 0), clock: Clock | None = None
) -> SimServer:
    """Start a sim on the first free port of `ports` (0: any) in a background thread; stop it with
    `stop_thread()`. Raises ConfigError when none is free."""
    for port in ports:
        server = SimServer(SimConfig(port=port, seed=seed), clock=clock)
        try:
            server.start_in_thread()
        except ConfigError:
            continue
        return server
    raise ConfigError("could not start bst sim on loopback")
