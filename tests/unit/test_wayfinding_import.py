"""`nfc-hospital central map import FILE`: a bad file is refused with every problem and
nothing changes; a good one is installed next to the database and served when site.map_file
is unset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from central.bridge.directory import WayfindingPublisher
from central.cli import main as central_main
from central.clock import SystemClock
from central.config import SAMPLE_MAP
from central.store import Database
from central.wayfinding.installed import installed_map_path
from protocol.codec import decode
from protocol.messages import DirectoryMap


def _sample() -> dict[str, object]:
    data: dict[str, object] = json.loads(SAMPLE_MAP.read_text(encoding="utf-8"))
    return data


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_bad_map_is_refused_with_every_problem_and_nothing_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _sample()
    edges = data["edges"]
    assert isinstance(edges, list)
    edges.append({**edges[0], "a": "nowhere-1"})
    edges.append({**edges[1], "b": "nowhere-2"})
    bad = _write(tmp_path / "bad.json", data)
    db_path = tmp_path / "data" / "central.db"
    rc = central_main(["map", "import", str(bad), "--database", str(db_path)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "nothing was installed" in err
    assert "nowhere-1" in err
    assert "nowhere-2" in err
    assert not (tmp_path / "data" / "map.json").exists()
    assert not db_path.exists()


def test_a_good_map_is_installed_and_served_when_site_map_file_is_unset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = tmp_path / "data" / "central.db"
    db = Database(str(db_path))
    db.migrate()
    try:
        pub = WayfindingPublisher(db, SAMPLE_MAP, SystemClock(), lambda d: None)
        first = pub.check()
        assert first is not None
        data = _sample()
        data["closures"] = [{"node_id": "elev-a-1f", "reason": {"ko": "점검", "en": "Service"}}]
        good = _write(tmp_path / "new-map.json", data)
        rc = central_main(["map", "import", str(good), "--database", str(db_path)])
        out = capsys.readouterr().out
        assert rc == 0, out
        target = (tmp_path / "data" / "map.json").resolve()
        assert target.read_bytes() == good.read_bytes()
        assert str(target) in out
        assert installed_map_path(db) == target
        second = pub.check()  # the running server's next map check
        assert second is not None
        assert second.map_version == first.map_version + 1
        served = decode(DirectoryMap, second.map_payload)
        assert [c.node_id for c in served.map.closures] == ["elev-a-1f"]
        # An explicit site.map_file wins over the imported map.
        pinned = WayfindingPublisher(db, tmp_path / "new-map.json", SystemClock(), lambda d: None)
        assert pinned.current_path() == tmp_path / "new-map.json"
    finally:
        db.dispose()
