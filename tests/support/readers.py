"""Running a reader driver in a test and waiting for what it delivers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

from prometheus_client import REGISTRY

from edge.readers.base import Reader, ReadResult


@dataclass
class Collected:
    """Results a running reader delivered, each with the monotonic time it reached the loop."""

    queue: asyncio.Queue[tuple[float, ReadResult]] = field(default_factory=asyncio.Queue)
    seen: list[ReadResult] = field(default_factory=list)

    async def on_read(self, result: ReadResult) -> None:
        self.seen.append(result)
        self.queue.put_nowait((time.monotonic(), result))

    async def next(self, within: float = 10.0) -> ReadResult:
        """The next result, or TimeoutError."""
        return (await asyncio.wait_for(self.queue.get(), within))[1]

    async def next_timed(self, within: float = 10.0) -> tuple[float, ReadResult]:
        return await asyncio.wait_for(self.queue.get(), within)


@asynccontextmanager
async def running(reader: Reader) -> AsyncIterator[Collected]:
    """Run `reader` in a named task for the block; cancel it and wait for it afterwards."""
    collected = Collected()
    task = asyncio.create_task(reader.run(collected.on_read), name=f"reader-{reader.name}")
    try:
        yield collected
    finally:
        task.cancel()
        # A reader that crashed (rather than being cancelled) fails the test here.
        with suppress(asyncio.CancelledError):
            await task


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Poll `condition` until it holds, or raise TimeoutError."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


def reader_errors(reader: str, reason: str) -> float:
    """The current value of nfch_edge_reader_errors_total for one reader and reason."""
    labels = {"reader": reader, "reason": reason}
    return REGISTRY.get_sample_value("nfch_edge_reader_errors_total", labels) or 0.0


def reader_feedback(reader: str, result: str) -> float:
    """The current value of nfch_edge_reader_feedback_total for one reader and result."""
    labels = {"reader": reader, "result": result}
    return REGISTRY.get_sample_value("nfch_edge_reader_feedback_total", labels) or 0.0
