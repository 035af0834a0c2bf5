"""Privacy scan after a realistic run (issue #10, security; DESIGN's privacy rule): no
plaintext card UID, phone number, birth date or full name on stations, in station logs, or
on public screens.

The run: central, two station daemons and a Mosquitto as separate processes
(tests/support/cluster.py), the sample hospital, taps of the sample cards (check-ins, repeat
taps, unknown cards) until everything is synced. Then scanned, as raw bytes:

- every file in each station's data folder (SQLite database, its WAL and journal, the port
  file ...) and each station's log;
- every retained MQTT message (room snapshots, directory documents, station status: what
  kiosks and room boards display and what any subscriber gets on connect);
- every screen the stations answered taps with (what the station screen shows);
- the kiosk itself: the room board (kiosk_ui's BoardModel and RoomBoardWindow, offscreen
  Qt) fed the retained rooms directory and room snapshots, and the station screen
  (StationModel, StationWindow) fed each tap's screen; every text its labels, buttons and
  list models hold is scanned, and a PNG of each is kept in the test's folder.

Looked for: each card UID (upper, lower, with colons, and its 7 raw bytes), each full name
(UTF-8 and as JSON \\u escapes), each birth date (YYYY-MM-DD, YYYYMMDD, YYYY.MM.DD) and
anything shaped like a Korean mobile number (010-1234-5678).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from protocol.mqtt import MqttLink
from tests.support.central_harness import Collector, mqtt_settings, start_link
from tests.support.cluster import Cluster
from tests.support.history import wait_converged

pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.qt]

# A Korean mobile number as people write it (010-1234-5678, 010.1234.5678, 010 1234 5678).
PHONE = re.compile(rb"(?<![\d.])01[016789][- .]\d{3,4}[- .]\d{4}(?!\d)")


def needles(cluster: Cluster) -> dict[str, list[bytes]]:
    """What must not appear, by what it is."""
    out: dict[str, list[bytes]] = {"card_uid": [], "name": [], "birth_date": []}
    for uid in cluster.card_uids:
        raw = bytes.fromhex(uid)
        colons = ":".join(uid[i : i + 2] for i in range(0, len(uid), 2))
        out["card_uid"] += [uid.encode(), uid.lower().encode(), colons.encode(), raw]
    for p in cluster.sample.data.patients:
        out["name"] += [p.name.encode(), json.dumps(p.name).strip('"').encode()]
        if p.birth_date:
            d = p.birth_date
            out["birth_date"] += [
                d.isoformat().encode(),
                d.strftime("%Y%m%d").encode(),
                d.strftime("%Y.%m.%d").encode(),
            ]
    return out


def hits(where: str, blob: bytes, found: dict[str, list[bytes]]) -> list[str]:
    problems = []
    for kind, items in found.items():
        for item in items:
            # Digits only count as a whole number (a birth date inside a longer number,
            # e.g. a millisecond timestamp, is a coincidence, not a leak).
            hit = (
                re.search(rb"(?<!\d)" + re.escape(item) + rb"(?!\d)", blob)
                if item.isdigit()
                else item in blob
            )
            if hit:
                problems.append(f"{where}: {kind} {item[:24]!r}")
                break  # one example per kind and place is enough to fail
    phone = PHONE.search(blob)
    if phone:
        problems.append(f"{where}: phone number {phone.group()!r}")
    return problems


async def retained(port: int, topic_root: str, limit_s: float = 15) -> dict[str, bytes]:
    """Every retained message under the root, as a new subscriber gets them."""
    collector = Collector()
    link = MqttLink(
        mqtt_settings(port, topic_root),
        f"privacy-scan-{time.monotonic_ns()}",
        subscriptions=[(f"{topic_root}/#", 1)],
        on_message=collector,
        clean_start=True,
    )
    async with asyncio.TaskGroup() as tg:
        task = await start_link(tg, link, "scanner")
        try:
            # Retained messages arrive right after SUBACK; wait until the count stays put.
            last, stable_since = -1, time.monotonic()
            deadline = time.monotonic() + limit_s
            while time.monotonic() < deadline:
                n = len(collector.messages)
                if n != last:
                    last, stable_since = n, time.monotonic()
                elif n and time.monotonic() - stable_since > 1.0:
                    break
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
    return {m.topic: m.payload for m in collector.messages if m.retain}


def _widget_texts(window: Any) -> list[str]:
    """Every text a window's labels, buttons and list models hold (what it can paint)."""
    from PyQt6.QtCore import Qt
    from PyQt6.QtWidgets import QAbstractButton, QAbstractItemView, QLabel

    texts = [w.text() for w in window.findChildren(QLabel)]
    texts += [w.text() for w in window.findChildren(QAbstractButton)]
    for view in window.findChildren(QAbstractItemView):
        model = view.model()
        if model is None:
            continue
        roles = [int(Qt.ItemDataRole.DisplayRole), *model.roleNames().keys()]
        for r in range(model.rowCount()):
            index = model.index(r, 0)
            texts += [str(model.data(index, role)) for role in roles]
    return texts


def kiosk_texts(app: Any, docs: dict[str, bytes], screens: list[bytes], out: Path) -> list[str]:
    """Feed the kiosk's own models and windows what a kiosk would get; their texts."""
    from kiosk_ui.models.announcements import AnnouncementModel
    from kiosk_ui.models.board import BoardModel
    from kiosk_ui.models.station import StationModel
    from kiosk_ui.screenshots import settle
    from kiosk_ui.views.board import RoomBoardWindow
    from kiosk_ui.views.station import StationWindow

    rooms_doc = next(p for t, p in docs.items() if t.endswith("/directory/rooms"))
    snapshots = {t.split("/")[-2]: p for t, p in docs.items() if t.endswith("/queue")}
    busiest = sorted(snapshots, key=lambda r: -len(json.loads(snapshots[r]).get("entries", [])))
    texts: list[str] = []
    for room_id in busiest[:4]:
        board = BoardModel(room_id, language="en")
        assert board.feed_rooms(rooms_doc)
        board.feed_snapshot(snapshots[room_id])
        window = RoomBoardWindow(board, AnnouncementModel(room_id, flash_s=60))
        settle(app, window)
        window.grab().save(str(out / f"board-{room_id}.png"))
        texts += _widget_texts(window)
        window.close()
    by_station: dict[str, list[bytes]] = {}
    for screen in screens:
        by_station.setdefault(json.loads(screen)["station_id"], []).append(screen)
    for sid, mine in sorted(by_station.items()):
        model = StationModel(sid, language="en")
        model.set_feed_up(True)
        window = StationWindow(model)
        for i, screen in enumerate(mine):
            assert model.feed_screen(screen), screen[:200]
            settle(app, window)
            if i < 3:
                window.grab().save(str(out / f"station-{sid}-{i}.png"))
            texts += _widget_texts(window)
        window.close()
    return texts


def test_no_plaintext_personal_data_on_stations_logs_or_screens(
    tmp_path: Path, broker, topic_root: str, qapp: Any
) -> None:
    cluster = Cluster(tmp_path, broker, topic_root, stations=2, patients=40, seed=7)
    screens: list[bytes] = []
    try:
        cluster.start()
        sids = sorted(cluster.stations)
        unknown = [f"04AB{i:010X}" for i in range(5)]
        taps = [*cluster.card_uids, *cluster.card_uids[:10], *unknown]
        for i, uid in enumerate(taps):
            st = cluster.stations[sids[i % len(sids)]]
            status, body = st.daemon.tap(uid)
            assert status in (200, 400, 503), (status, body)
            if status != 202:  # 202: debounced, no screen
                screens.append(json.dumps(body, ensure_ascii=False).encode())
        wait_converged(cluster.central_db, cluster.station_dbs, 60)
        kinds = {json.loads(s).get("kind") for s in screens}
        assert len(kinds) >= 2, kinds  # check-ins and repeat/unknown taps, not one screen
        docs = asyncio.run(retained(broker.port, topic_root))
    finally:
        cluster.close()
    assert any("/room/" in t for t in docs), sorted(docs)[:5]
    assert any("/directory/cards" in t for t in docs), sorted(docs)[:5]
    found = needles(cluster)
    # The scan finds what it looks for (central's database holds names and birth dates).
    central_blob = cluster.central_db.read_bytes()
    assert hits("central.db", central_blob, {"name": found["name"]}), "scanner finds nothing"
    problems: list[str] = []
    scanned = 0
    for sid, st in cluster.stations.items():
        for f in sorted(st.daemon.data_dir.rglob("*")):
            if f.is_file():
                problems += hits(f"{sid}/{f.name}", f.read_bytes(), found)
                scanned += 1
        problems += hits(f"{sid} log", st.daemon.log_path.read_bytes(), found)
    for topic, payload in docs.items():
        problems += hits(f"retained {topic}", payload, found)
    for i, screen in enumerate(screens):
        problems += hits(f"screen of tap {i}", screen, found)
    texts = kiosk_texts(qapp, docs, screens, tmp_path)
    assert any("*" in t for t in texts), "the kiosk shows no masked name at all"
    problems += hits("kiosk screens", "\n".join(texts).encode(), found)
    print(
        f"privacy scan: {scanned} station files, 2 logs, {len(docs)} retained messages, "
        f"{len(screens)} tap screens, {len(texts)} kiosk texts; "
        f"{sum(len(v) for v in found.values())} needles"
    )
    assert scanned >= 2
    assert not problems, "\n".join(problems[:40])
