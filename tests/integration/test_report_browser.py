"""The HTML report in a real browser: headless Chromium opens it with no network and draws every plot.

Chromium is driven over the DevTools protocol (a WebSocket on loopback): the test records every
request the page makes, every console message and every uncaught exception, opens the report from
disk, and waits for the report's own signal that each figure was drawn. Any request that is not
the file itself (or an inline data: URL) fails the test, and so does any console error.

Needs Debian's `chromium` (`make test` installs it with apt-get where it can); without it the test
skips and says so, unless BST_REQUIRE_SERVICES=1 (CI), where it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from bst.backtest.api import run
from bst.backtest.config import BacktestConfig
from bst.backtest.report import write_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # no network at all: every host resolves nowhere and any proxy use fails
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
)
TIMEOUT_S = 90.0


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    message = (
        "Chromium is not installed: `make test` installs Debian's chromium with apt-get when it runs "
        "as root; elsewhere install it (apt-get install chromium) to run the report's browser test"
    )
    if os.environ.get("BST_REQUIRE_SERVICES", "") == "1":
        pytest.fail(f"{message} (BST_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(message)


class DevTools:
    """A minimal DevTools-protocol client over one WebSocket: commands, and every event kept."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            future = self.pending.pop(message.get("id", -1), None)
            if future is not None:
                future.set_result(message)
            else:
                self.events.append(message)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> Any:
        number = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[number] = future
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        await self.socket.send(json.dumps(message))
        reply = await asyncio.wait_for(future, TIMEOUT_S)
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        return reply["result"]

    async def evaluate(self, session: str, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session
        )
        return result["result"].get("value")

    def named(self, method: str) -> list[dict[str, Any]]:
        return [e.get("params", {}) for e in self.events if e.get("method") == method]


async def _endpoint(process: asyncio.subprocess.Process) -> str:
    assert process.stderr is not None
    while True:
        line = (await asyncio.wait_for(process.stderr.readline(), TIMEOUT_S)).decode(errors="replace")
        if not line:
            raise AssertionError("chromium exited before it opened its DevTools endpoint")
        found = re.search(r"DevTools listening on (ws://\S+)", line)
        if found:
            return found.group(1)


@contextlib.asynccontextmanager
async def _chromium(browser: str, tmp_path: Path) -> AsyncIterator[DevTools]:
    process = await asyncio.create_subprocess_exec(
        browser,
        *FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        "--remote-debugging-port=0",
        "about:blank",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = await _endpoint(process)
        async with connect(url, max_size=None) as socket:
            tools = DevTools(socket)
            yield tools
            tools.reader.cancel()
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _open(tools: DevTools, page: Path) -> str:
    """Open the page in a new tab with everything watched; return the tab's session."""
    target = await tools.send("Target.createTarget", {"url": "about:blank"})
    attached = await tools.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
    session = attached["sessionId"]
    for domain in ("Runtime", "Log", "Network", "Page"):
        await tools.send(f"{domain}.enable", session=session)
    await tools.send("Page.navigate", {"url": page.as_uri()}, session=session)
    return str(session)


async def _wait_for_plots(tools: DevTools, session: str, expected: int) -> None:
    deadline = asyncio.get_running_loop().time() + TIMEOUT_S
    while asyncio.get_running_loop().time() < deadline:
        drawn = await tools.evaluate(
            session, "document.body && document.body.getAttribute('data-plots-drawn')"
        )
        if drawn is not None:
            assert int(drawn) == expected
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the report did not draw its plots within {TIMEOUT_S:.0f} s")


@pytest.fixture(scope="module")
def browser() -> str:
    """Return the Chromium to drive (skip, or fail in CI, before any work when there is none)."""
    return _browser()


@pytest.fixture(scope="module")
def report(browser: str, shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = BacktestConfig(cash=Decimal(10_000), commission=Decimal("0.00055"))
    result = run(
        "sma_cross",
        "XRPUSDT",
        data=shared_dir / "data" / "freqtrade_XRP_USDT_USDT-5m-futures.feather",
        params={"qty": Decimal(1000)},
        config=config,
    )
    assert len(result.trades) > 3
    return write_report(result, tmp_path_factory.mktemp("report") / "report.html")


async def test_the_report_opens_offline_in_chromium_draws_every_plot_and_logs_no_error(
    browser: str, report: Path, tmp_path: Path
) -> None:
    async with _chromium(browser, tmp_path) as tools:
        session = await _open(tools, report)
        await _wait_for_plots(tools, session, expected=2)
        plots = await tools.evaluate(
            session,
            "Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => ({"
            " id: d.id, traces: d.data.length,"
            " points: d.data.reduce((n, t) => n + (t.x ? t.x.length : 0), 0),"
            " svg: d.querySelectorAll('svg.main-svg').length }))",
        )
        assert [p["id"] for p in plots] == ["chart-equity", "chart-symbol-0"]
        for plot in plots:
            assert plot["traces"] >= 2, plots
            assert plot["points"] > 100, plots
            assert plot["svg"] >= 1, plots
        kinds = await tools.evaluate(
            session, "document.getElementById('chart-symbol-0').data.map(t => t.type || 'scatter')"
        )
        assert kinds[0] == "candlestick"
        requests = [r["request"]["url"] for r in tools.named("Network.requestWillBeSent")]
        assert requests
        assert all(url.startswith(("file://", "data:")) for url in requests), requests
        exceptions = tools.named("Runtime.exceptionThrown")
        console = tools.named("Runtime.consoleAPICalled")
        console_errors = [c for c in console if c.get("type") in ("error", "assert")]
        log_errors = [e["entry"] for e in tools.named("Log.entryAdded") if e["entry"].get("level") == "error"]
        assert exceptions == []
        assert console_errors == []
        assert log_errors == []
