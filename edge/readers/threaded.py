"""Running a blocking reader library (nfcpy, pyscard) in a worker thread under asyncio.

The worker owns the device and calls `emit` for each result; `emit` hands it to the event loop
with `call_soon_threadsafe`, and `run` awaits the daemon's callback there, one result at a time.
Cancelling `run` sets the stop event the worker polls and waits for the thread to finish, so
the device is closed before `run` returns.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from edge.readers.base import OnRead, ReadResult

log = logging.getLogger(__name__)

Emit = Callable[[ReadResult], None]
Worker = Callable[[threading.Event, Emit], None]

# How long a cancelled `run` waits for the worker to close the device before giving up on it.
STOP_TIMEOUT_S = 5.0


async def run_worker_thread(
    name: str, worker: Worker, on_read: OnRead, wake: Callable[[], None] | None = None
) -> None:
    """Run `worker(stop, emit)` in a thread and deliver what it emits until cancelled.

    `wake`, if given, is called after the stop event is set, to interrupt a blocking wait in
    the library (pyscard's SCardCancel). If the worker returns or raises on its own, `run`
    raises: a reader that stopped reading is a bug the daemon must not hide.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[ReadResult] = asyncio.Queue()
    stop = threading.Event()
    finished: asyncio.Future[None] = loop.create_future()

    def emit(result: ReadResult) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(queue.put_nowait, result)

    def settle(error: BaseException | None) -> None:
        if finished.done():
            return
        if error is None:
            finished.set_result(None)
        else:
            finished.set_exception(error)

    def body() -> None:
        error: BaseException | None = None
        try:
            worker(stop, emit)
        except BaseException as e:
            error = e
        if not loop.is_closed():
            loop.call_soon_threadsafe(settle, error)

    thread = threading.Thread(target=body, name=f"reader-{name}", daemon=True)
    thread.start()
    getter: asyncio.Future[ReadResult] | None = None
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            waiting: set[asyncio.Future[Any]] = {getter, finished}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                await on_read(getter.result())
                continue
            finished.result()  # raises the worker's exception, if any
            raise RuntimeError(f"reader {name}: worker thread ended while still wanted")
    finally:
        if getter is not None:
            getter.cancel()
        stop.set()
        if wake is not None:
            wake()
        if not finished.done():
            try:
                await asyncio.wait_for(asyncio.shield(finished), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("reader.stop_slow reader=%s timeout_s=%.1f", name, STOP_TIMEOUT_S)
            except Exception:
                log.exception("reader.stop_failed reader=%s", name)
