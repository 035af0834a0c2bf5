"""A soft two-tone chime written as a WAV with the standard library (no audio assets to ship)."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 22050
# A falling major third (E5 -> C5), the "ding-dong" people know from public address systems.
TONES = ((659.25, 0.55), (523.25, 0.85))


def write_chime(path: Path, volume: float = 0.6) -> Path:
    """Write the chime to `path` (16-bit mono PCM) and return it."""
    frames = bytearray()
    for freq, seconds in TONES:
        n = int(RATE * seconds)
        for i in range(n):
            t = i / RATE
            # Quick attack, exponential decay: a bell, not a beep.
            envelope = min(1.0, t / 0.01) * math.exp(-3.0 * t / seconds)
            # A quiet octave overtone makes it rounder on small speakers.
            sample = math.sin(2 * math.pi * freq * t) + 0.25 * math.sin(4 * math.pi * freq * t)
            frames += struct.pack("<h", int(32767 * volume * envelope * sample / 1.25))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))
    return path
