"""The exchange's clock: what "now" means for downloads and the offset users can check."""

from __future__ import annotations

from dataclasses import dataclass

from bst.domain.clock import SystemClock
from bst.exchange.rest import BybitRestClient


class ServerClock:
    """The system clock shifted onto the exchange's clock (offset measured once, in ms).

    Used where the exchange's "now" matters more than ours: which candle is still open is judged
    by its clock (`bst sim` may run at another date; a local clock may be off).
    """

    def __init__(self, offset_ms: int) -> None:
        self.offset_ms = offset_ms
        self._system = SystemClock()

    @classmethod
    async def aligned_to(cls, client: BybitRestClient) -> ServerClock:
        """Return a clock aligned with `client`'s server time (half the round trip assumed each way)."""
        before = SystemClock().now_ms()
        server = await client.get_server_time()
        after = SystemClock().now_ms()
        return cls(server.time_ms - (before + after) // 2)

    def now_ms(self) -> int:
        """Return the exchange's time in epoch ms."""
        return self._system.now_ms() + self.offset_ms

    def monotonic(self) -> float:
        """Return a monotonic time in seconds."""
        return self._system.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await self._system.sleep(seconds)


@dataclass(frozen=True, slots=True)
class ServerTimeReading:
    """The exchange's time and how far its clock is ahead of ours (negative: behind), in ms."""

    time_ms: int
    offset_ms: int


async def read_server_time(client: BybitRestClient) -> ServerTimeReading:
    """Return the exchange's clock, syncing `client`'s signing offset on the way."""
    offset = await client.sync_time()
    return ServerTimeReading((await client.get_server_time()).time_ms, offset)
