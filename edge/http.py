"""The daemon's local HTTP port: health, metrics, the station screen feed, local taps.

- `GET /healthz`: JSON health; 200 while the daemon can record taps, 503 when it cannot.
- `GET /metrics`: Prometheus text.
- `GET /api/v1/screen`: WebSocket of `protocol.codec.encode(StationScreen)` text frames, the
  current screen first, then each new one (kiosk_ui's station mode).
- `POST /api/v1/tap` `{"uid": "04A1B2C3", "reader": "simulated"}`: feeds a simulated reader
  (`nfc-hospital edge tap UID`); loopback clients only. Answers with the screen shown.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from edge.errors import (
    BadTapError,
    EdgeError,
    NoSimulatedReaderError,
    RemoteNotAllowedError,
    http_status,
)
from edge.metrics import BAD_MESSAGES
from edge.readers.base import CardRead, ReadResult
from edge.readers.simulated import SimulatedReader
from protocol.messages import StationScreen

log = logging.getLogger(__name__)

TapWaiter = Callable[[ReadResult], Awaitable[StationScreen | None]]
HealthFn = Callable[[], tuple[bool, dict[str, Any]]]

_TAP_BODY_LIMIT = 4096


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    # The one place station errors become HTTP statuses.
    try:
        return await handler(request)
    except EdgeError as e:
        return web.json_response(
            {"error": type(e).__name__, "message": str(e)}, status=http_status(e)
        )


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


class EdgeHttp:
    """Builds the aiohttp application of one daemon."""

    def __init__(
        self,
        feed_subscribe: Callable[[], asyncio.Queue[str]],
        feed_unsubscribe: Callable[[asyncio.Queue[str]], None],
        simulated: dict[str, SimulatedReader],
        wait_for_tap: TapWaiter,
        health: HealthFn,
    ) -> None:
        self._subscribe = feed_subscribe
        self._unsubscribe = feed_unsubscribe
        self._simulated = simulated
        self._wait_for_tap = wait_for_tap
        self._health = health
        self.app = web.Application(middlewares=[_errors], client_max_size=64 * 1024)
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/metrics", self.metrics)
        self.app.router.add_get("/api/v1/screen", self.screen)
        self.app.router.add_post("/api/v1/tap", self.tap)

    async def healthz(self, request: web.Request) -> web.Response:
        ok, body = self._health()
        return web.json_response(body, status=200 if ok else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest())
        resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return resp

    async def screen(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        queue = self._subscribe()
        receiver = asyncio.create_task(self._drain(ws), name="screen-ws-receiver")
        try:
            while not ws.closed:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait(
                    {getter, receiver}, return_when=asyncio.FIRST_COMPLETED
                )
                if getter not in done:
                    getter.cancel()
                    break
                await ws.send_str(getter.result())
        finally:
            self._unsubscribe(queue)
            receiver.cancel()
            await ws.close()
        return ws

    @staticmethod
    async def _drain(ws: web.WebSocketResponse) -> None:
        # The screen sends nothing meaningful; reading notices when it goes away.
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break

    async def tap(self, request: web.Request) -> web.Response:
        if not _is_loopback(request.remote):
            raise RemoteNotAllowedError(
                f"taps are accepted from loopback only, not {request.remote}"
            )
        raw = await request.content.read(_TAP_BODY_LIMIT + 1)
        if len(raw) > _TAP_BODY_LIMIT:
            BAD_MESSAGES.labels(source="http_tap", reason="too_large").inc()
            raise BadTapError(f"tap body is larger than {_TAP_BODY_LIMIT} bytes")
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            BAD_MESSAGES.labels(source="http_tap", reason="not_json").inc()
            raise BadTapError(f"tap body is not JSON: {e}") from None
        if not isinstance(body, dict) or not isinstance(body.get("uid"), str):
            BAD_MESSAGES.labels(source="http_tap", reason="no_uid").inc()
            raise BadTapError('tap body must be a JSON object with a "uid" string')
        name = body.get("reader")
        if name is None and self._simulated:
            name = next(iter(self._simulated))
        reader = self._simulated.get(name) if isinstance(name, str) else None
        if reader is None:
            raise NoSimulatedReaderError(
                f"no simulated reader named {name!r} in this station's config; "
                'add [[readers]] type = "simulated"'
            )
        result = reader.inject(body["uid"])
        screen = await self._wait_for_tap(result)
        if screen is None:
            return web.json_response({"status": "debounced"}, status=202)
        if not isinstance(result, CardRead):
            status = 400  # garbage UID: the screen says "tap again"
        elif screen.kind == "refused":
            status = 503  # could not be recorded (disk full): the screen says so
        else:
            status = 200
        return web.Response(
            text=screen.model_dump_json(), status=status, content_type="application/json"
        )
