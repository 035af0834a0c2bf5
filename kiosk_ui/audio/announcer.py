"""Plays the chime and speaks the call; reports what it actually did for each call.

Speech, in order of preference: Qt's text-to-speech when an engine has a Korean voice, else
`espeak-ng -v ko`, else none. The chime never depends on speech. Without an audio device (a
headless test) the chime still loads and is asked to play; the report says so.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QLocale, QObject, QProcess, QUrl

from kiosk_ui.audio.chime import write_chime
from kiosk_ui.metrics import ANNOUNCEMENTS
from kiosk_ui.models.text import spoken_call
from protocol.messages import CallAnnouncement

log = logging.getLogger("nfch.kiosk.announcer")


@dataclass(frozen=True, slots=True)
class AnnounceReport:
    """What the announcer did for one call."""

    ticket_number: int
    muted: bool
    chime: str  # "played", "unavailable" (no audio output or codec), "muted"
    speech: str  # "qt", "espeak", "none", "muted"
    spoken_text: str


@dataclass(slots=True)
class _Speech:
    backend: str = "none"
    qt: Any = None
    espeak: str | None = None
    detail: list[str] = field(default_factory=list)


def _find_speech(mode: str, parent: QObject) -> _Speech:
    found = _Speech()
    if mode in ("auto", "qt"):
        try:
            from PyQt6.QtTextToSpeech import QTextToSpeech
        except ImportError:
            found.detail.append("qt: QtTextToSpeech not installed")
        else:
            for engine in QTextToSpeech.availableEngines():
                if engine == "mock":
                    continue
                tts = QTextToSpeech(engine, parent)
                korean = [
                    loc
                    for loc in tts.availableLocales()
                    if loc.language() == QLocale.Language.Korean
                ]
                if korean:
                    tts.setLocale(korean[0])
                    found.backend, found.qt = "qt", tts
                    return found
                found.detail.append(f"qt: engine {engine} has no Korean voice")
    if mode in ("auto", "espeak"):
        binary = shutil.which("espeak-ng")
        if binary:
            found.backend, found.espeak = "espeak", binary
            return found
        found.detail.append("espeak-ng not found")
    return found


class Announcer(QObject):
    """Chime + speech for calls; `reports` lists what was done, newest last."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        muted: bool = False,
        speech: str = "auto",
        chime_file: Path | None = None,
        volume: float = 0.8,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.muted = muted
        self.reports: list[AnnounceReport] = []
        self.chime_path = chime_file or write_chime(cache_dir / "chime.wav")
        self._effect: Any = None
        try:
            from PyQt6.QtMultimedia import QSoundEffect
        except ImportError:
            log.warning("announcer.no_qtmultimedia chime=unavailable")
        else:
            self._effect = QSoundEffect(self)
            self._effect.setSource(QUrl.fromLocalFile(str(self.chime_path.resolve())))
            self._effect.setVolume(volume)
        self._speech = _find_speech(speech, self) if speech != "off" else _Speech()
        self._process: QProcess | None = None
        log.info(
            "announcer.ready chime=%s speech=%s notes=%s",
            self.chime_path,
            self._speech.backend,
            "; ".join(self._speech.detail) or "-",
        )

    @property
    def speech_backend(self) -> str:
        """qt, espeak or none."""
        return self._speech.backend

    def set_muted(self, muted: bool) -> None:
        """Mute or unmute this kiosk."""
        self.muted = muted

    def announce(self, call: CallAnnouncement) -> AnnounceReport:
        """Chime, then speak the number and room (Korean); returns what was done."""
        sentence = spoken_call(call.ticket_number, call.room_name, call.desk)
        if self.muted:
            report = AnnounceReport(call.ticket_number, True, "muted", "muted", sentence)
        else:
            chime = self._play_chime()
            speech = self._speak(sentence)
            report = AnnounceReport(call.ticket_number, False, chime, speech, sentence)
        self.reports.append(report)
        ANNOUNCEMENTS.labels(result="muted" if self.muted else report.speech).inc()
        log.info(
            "announcer.call ticket=%d chime=%s speech=%s",
            call.ticket_number,
            report.chime,
            report.speech,
        )
        return report

    def _play_chime(self) -> str:
        if self._effect is None:
            return "unavailable"
        from PyQt6.QtMultimedia import QMediaDevices, QSoundEffect

        self._effect.play()
        if not QMediaDevices.audioOutputs() or self._effect.status() == QSoundEffect.Status.Error:
            # Asked to play, but nothing can sound (headless, no card): say so, do not pretend.
            return "unavailable"
        return "played"

    def _speak(self, sentence: str) -> str:
        if self._speech.backend == "qt":
            self._speech.qt.say(sentence)
            return "qt"
        if self._speech.backend == "espeak" and self._speech.espeak:
            if (
                self._process is not None
                and self._process.state() != QProcess.ProcessState.NotRunning
            ):
                # A new call interrupts a sentence still being spoken: the newest call matters.
                self._process.kill()
                self._process.waitForFinished(1000)
            self._process = QProcess(self)
            # Slow (-s 140) and a little longer gaps between words (-g 4) for older listeners.
            self._process.start(self._speech.espeak, ["-v", "ko", "-s", "140", "-g", "4", sentence])
            return "espeak"
        return "none"

    def shutdown(self) -> None:
        """Stop a sentence still being spoken."""
        if self._process is not None and self._process.state() != QProcess.ProcessState.NotRunning:
            self._process.kill()
            self._process.waitForFinished(1000)
