"""`SimServer`: the Bybit-v5-compatible simulator over HTTP (and WebSocket) on one port.

In-process use (tests, demos):

    async with SimServer(SimConfig(port=0, seed=7), clock=ManualClock(...)) as sim:
        ...  # sim.base_url, sim.ws_url, sim.generator (ground truth)

or, for sync clients (pybit) and tests whose own loop runs the client, `start_in_thread()` /
`stop_thread()`, which run the server on its own event loop in a daemon thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
from collections.abc import Generator, Sequence
from types import ModuleType, TracebackType

import structlog
import uvicorn

from bst.domain.clock import Clock
from bst.domain.errors import ConfigError
from bst.sim.app import RouteModule, build_app
from bst.sim.faults import FaultConfig
from bst.sim.gateway import is_loopback
from bst.sim.generator import MarketGenerator
from bst.sim.state import SimConfig, SimState

log = structlog.get_logger(__name__)
_LOOPBACK_ALIASES = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def exposure_warning(config: SimConfig, port: int | None = None) -> str | None:
    """Return the one-line warning for a sim listening beyond loopback, or None on loopback.

    Anyone who can reach the port can then trade on its accounts and read its markets; the admin
    routes stay loopback-only unless an admin token is set. The token itself is never printed.
    `port` is the port actually bound (when the config asked for 0).
    """
    if is_loopback(config.host):
        return None
    where = config.host or "every interface"
    admin = (
        "admin routes need the admin token"
        if config.admin_token
        else "admin routes answer loopback only (set --admin-token to manage it remotely)"
    )
    return (
        f"warning: bst sim listens on {where}, beyond loopback: anyone who can reach port "
        f"{port if port is not None else config.port} can use its API and trading accounts; {admin}"
    )


class _Uvicorn(uvicorn.Server):
    """uvicorn that reports readiness and leaves signal handling to its owner."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The CLI installs its own SIGINT/SIGTERM handlers; tests must not have theirs replaced.
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only turns Nagle off (TCP_NODELAY) on sockets that say
    # so, and with Nagle on every small reply waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"cannot listen on {host}:{port}: the address is already in use (another bst sim?); "
                "pick another --port"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


class SimServer:
    """The simulator: generator + Bybit v5 routes + gateway (IP limit, faults) on one port."""

    def __init__(
        self,
        config: SimConfig | None = None,
        clock: Clock | None = None,
        *,
        modules: Sequence[ModuleType | RouteModule] | None = None,
    ) -> None:
        self.config = config or SimConfig()
        self.state = SimState(self.config, clock)
        self._modules = modules
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread_stop: asyncio.Event | None = None

    # --- addresses -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """Return the port listened on (the real one when port 0 was asked)."""
        if self._port is not None:
            return self._port
        if self.config.port == 0:
            raise RuntimeError("the sim picks its port when started; start it first")
        return self.config.port

    @property
    def host(self) -> str:
        """Return the host clients should connect to."""
        return _LOOPBACK_ALIASES.get(self.config.host, self.config.host)

    @property
    def base_url(self) -> str:
        """Return the REST base URL, e.g. http://127.0.0.1:8765."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Return the WebSocket base URL on the same port, e.g. ws://127.0.0.1:8765."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Return whether the server is accepting connections."""
        return self._server is not None and self._server.started and not self._server.should_exit

    # --- shared state --------------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        """Return the sim clock."""
        return self.state.clock

    @property
    def generator(self) -> MarketGenerator:
        """Return the market generator (ground truth for tests)."""
        return self.state.generator

    @property
    def faults(self) -> FaultConfig:
        """Return the fault settings in force."""
        return self.state.faults.config

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the fault settings (restarts the fault random stream); thread-safe."""
        self.state.faults.configure(faults)

    def set_clock(self, clock: Clock) -> None:
        """Replace the sim clock (e.g. a fresh ManualClock between tests)."""
        self.state.set_clock(clock)

    def reset(self) -> None:
        """Restore configured faults and limits and forget counted requests; thread-safe."""
        self.state.reset()

    # --- lifecycle on the caller's loop --------------------------------------------------------

    async def start(self) -> None:
        """Bind, serve, and return once connections are accepted (ConfigError if the port is taken)."""
        if self._task is not None:
            raise RuntimeError("the sim is already started")
        sock = _bind(self.config.host, self.config.port)
        self._socket = sock
        self._port = int(sock.getsockname()[1])
        self.state.stopping = asyncio.Event()
        app = build_app(self.state, self._modules)
        uv_config = uvicorn.Config(
            app,
            log_config=None,
            access_log=self.config.access_log,
            lifespan="on",
            timeout_graceful_shutdown=max(1, round(self.config.shutdown_grace_s)),
        )
        server = _Uvicorn(uv_config)
        self._server = server
        task = asyncio.create_task(server.serve(sockets=[sock]), name="bst-sim")
        self._task = task
        ready = asyncio.create_task(server.ready.wait())
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not server.ready.is_set():
            ready.cancel()
            self._task = self._server = None
            sock.close()
            reason = task.exception() if not task.cancelled() else None
            raise ConfigError(f"the sim failed to start: {reason!r}")
        log.info("sim listening", rest=self.base_url, ws=self.ws_url, seed=self.config.seed)

    async def stop(self) -> None:
        """Stop serving: held replies are cut short, open connections closed."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        if self.state.stopping is not None:
            self.state.stopping.set()
        server.should_exit = True
        try:
            await task
        except (Exception, SystemExit) as e:  # a crashed server is stopped all the same
            log.warning("sim stopped with an error", error=repr(e))
        finally:
            self._task = self._server = None
            if self._socket is not None:
                self._socket.close()
                self._socket = None
        log.info("sim stopped", port=self._port)

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- lifecycle on a thread of its own ------------------------------------------------------

    def start_in_thread(self, timeout_s: float = 10.0) -> SimServer:
        """Run the sim on its own event loop in a daemon thread; return once it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the sim is already running in a thread")
        ready = threading.Event()
        errors: list[BaseException] = []

        async def main() -> None:
            self._thread_loop = asyncio.get_running_loop()
            self._thread_stop = asyncio.Event()
            try:
                await self.start()
            except BaseException as e:
                errors.append(e)
                ready.set()
                return
            ready.set()
            await self._thread_stop.wait()
            await self.stop()

        thread = threading.Thread(target=asyncio.run, args=(main(),), name="bst-sim", daemon=True)
        self._thread = thread
        thread.start()
        if not ready.wait(timeout_s):
            raise TimeoutError(f"the sim did not start within {timeout_s} s")
        if errors:
            thread.join(timeout_s)
            self._thread = None
            raise errors[0]
        return self

    def stop_thread(self, timeout_s: float = 10.0) -> None:
        """Stop a sim started with `start_in_thread` and wait for its thread to end."""
        thread, loop, stop = self._thread, self._thread_loop, self._thread_stop
        if thread is None:
            return
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop may have just finished
                loop.call_soon_threadsafe(stop.set)
        thread.join(timeout_s)
        if thread.is_alive():
            raise TimeoutError(f"the sim thread did not stop within {timeout_s} s")
        self._thread = self._thread_loop = self._thread_stop = None
