"""`nfc-hospital provision labels`: a printable sheet of QR codes (PNG or PDF).

Station labels carry the station id; room labels the room's phone-page link, so a patient can
follow the queue on their phone. `qrcode` builds the matrix; Qt draws it with the caption in
Korean-capable fonts (no Pillow needed), to a PNG image or an A4 PDF.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import qrcode
from qrcode.constants import ERROR_CORRECT_M

from protocol.ids import is_valid_id
from provisioning.errors import UsageError

COLUMNS, ROWS = 3, 4
A4_PX = (2480, 3508)  # A4 at 300 dpi


@dataclass(frozen=True, slots=True)
class Label:
    """One label: the text in the QR code and the caption printed under it."""

    payload: str
    caption: str


def build_labels(
    stations: list[str], rooms: list[str], phone_url: str, central: str | None
) -> list[Label]:
    """Station labels first, then one phone-page label per room."""
    for sid in [*stations, *rooms]:
        if not is_valid_id(sid):
            raise UsageError(f"{sid!r} is not a valid station or room id", "check the id")
    labels = [Label(sid, f"스테이션 Station {sid}") for sid in stations]
    for room in rooms:
        if "{central}" in phone_url and not central:
            raise UsageError(
                "room labels need central's address for the phone page",
                "give --central URL (or a full --phone-url template)",
            )
        url = phone_url.format(central=(central or "").rstrip("/"), room=room)
        labels.append(Label(url, f"진료실 Room {room} - 휴대폰으로 대기 확인 / wait on your phone"))
    if not labels:
        raise UsageError("nothing to print", "give --station ID or --room ID (repeatable)")
    return labels


def qr_matrix(payload: str) -> list[list[bool]]:
    """The QR code's modules, quiet zone included."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    qr.add_data(payload)
    qr.make(fit=True)
    return [list(row) for row in qr.get_matrix()]


def render(labels: list[Label], output: Path) -> list[Path]:
    """Draw the labels on A4 pages: one PDF, or one PNG per page (`name-2.png` ...)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtCore import QMarginsF, QRectF, Qt
    from PyQt6.QtGui import (
        QColor,
        QFont,
        QGuiApplication,
        QImage,
        QPageLayout,
        QPageSize,
        QPainter,
        QPdfWriter,
    )

    app = QGuiApplication.instance() or QGuiApplication([])
    per_page = COLUMNS * ROWS
    pages = [labels[i : i + per_page] for i in range(0, len(labels), per_page)]
    width, height = A4_PX

    def draw(painter: QPainter, page: list[Label]) -> None:
        cell_w, cell_h = width / COLUMNS, height / ROWS
        font = QFont("Noto Sans CJK KR")
        font.setPixelSize(40)
        painter.setFont(font)
        for n, label in enumerate(page):
            x0, y0 = (n % COLUMNS) * cell_w, (n // COLUMNS) * cell_h
            matrix = qr_matrix(label.payload)
            # Whole pixels per module: fractional edges blur modules and decoders miss them.
            module = int(min(cell_w, cell_h - 200) * 0.9) // len(matrix)
            side = module * len(matrix)
            left = int(x0 + (cell_w - side) / 2)
            top = int(y0 + 40)
            for r, row in enumerate(matrix):
                for c, dark in enumerate(row):
                    if dark:
                        painter.fillRect(
                            QRectF(left + c * module, top + r * module, module, module),
                            QColor("black"),
                        )
            caption = QRectF(x0 + 20, top + side + 10, cell_w - 40, 150)
            painter.drawText(
                caption,
                int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
                | int(Qt.TextFlag.TextWordWrap),
                label.caption,
            )

    written: list[Path] = []
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".pdf":
        writer = QPdfWriter(str(output))
        writer.setResolution(300)
        writer.setPageLayout(
            QPageLayout(
                QPageSize(QPageSize.PageSizeId.A4),
                QPageLayout.Orientation.Portrait,
                QMarginsF(0, 0, 0, 0),
            )
        )
        painter = QPainter(writer)
        for i, page in enumerate(pages):
            if i:
                writer.newPage()
            draw(painter, page)
        painter.end()
        written.append(output)
    else:
        for i, page in enumerate(pages):
            image = QImage(width, height, QImage.Format.Format_Grayscale8)
            image.fill(QColor("white"))
            painter = QPainter(image)
            draw(painter, page)
            painter.end()
            path = output if i == 0 else output.with_name(f"{output.stem}-{i + 1}{output.suffix}")
            if not image.save(str(path), "PNG"):
                raise UsageError(
                    f"could not write {path}", "check the folder exists and is writable"
                )
            written.append(path)
    del app
    return written


def main(argv: list[str], prog: str = "nfc-hospital provision labels") -> int:
    """Write the label sheet."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Print a sheet of QR labels: station ids and room phone pages."
    )
    parser.add_argument("--output", type=Path, required=True, help="sheet.png or sheet.pdf")
    parser.add_argument("--station", action="append", default=[], help="station id (repeat)")
    parser.add_argument("--room", action="append", default=[], help="room id (repeat)")
    parser.add_argument("--central", help="central's public URL (for the phone pages)")
    parser.add_argument(
        "--phone-url",
        default="{central}/p/room/{room}",
        help="phone page link template with {central} and {room}",
    )
    args = parser.parse_args(argv)
    labels = build_labels(args.station, args.room, args.phone_url, args.central)
    for path in render(labels, args.output):
        print(path)
    return 0
