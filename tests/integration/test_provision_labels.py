"""The label sheet: QR codes that a real decoder (zbarimg) reads back."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from provisioning.errors import UsageError
from provisioning.labels import build_labels, main

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbar-tools not installed"),
]


def decode(path: Path) -> set[str]:
    out = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_png_sheet_decodes_to_station_ids_and_room_links(tmp_path: Path) -> None:
    out = tmp_path / "labels.png"
    rc = main(
        ["--output", str(out), "--station", "st-lobby-1", "--station", "st-2f-1",
         "--room", "im-1", "--central", "https://central.hospital.local/"]
    )  # fmt: skip
    assert rc == 0
    assert decode(out) == {
        "st-lobby-1",
        "st-2f-1",
        "https://central.hospital.local/p/room/im-1",
    }


def test_pdf_sheet_and_several_pages(tmp_path: Path) -> None:
    stations = [f"st-{n}" for n in range(14)]  # 12 per page
    argv = ["--output", str(tmp_path / "s.png")]
    for s in stations:
        argv += ["--station", s]
    assert main(argv) == 0
    assert decode(tmp_path / "s.png") | decode(tmp_path / "s-2.png") == set(stations)
    assert main([*argv[:1], str(tmp_path / "s.pdf"), *argv[2:]]) == 0
    assert (tmp_path / "s.pdf").read_bytes().startswith(b"%PDF")


def test_bad_label_requests_say_what_to_do() -> None:
    with pytest.raises(UsageError, match="nothing to print"):
        build_labels([], [], "{central}/p/room/{room}", None)
    with pytest.raises(UsageError, match="need central's address"):
        build_labels([], ["im-1"], "{central}/p/room/{room}", None)
    with pytest.raises(UsageError, match="not a valid"):
        build_labels(["Bad Id"], [], "{central}/p/room/{room}", None)
