"""BM25 over the FAQ's example questions and the room directory (bm25s).

One document per example question (short documents match short questions best) and one per
room and language (room name, department name, aliases). A hit names its FAQ entry or room.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import bm25s
import numpy as np

from central.assistant.faq import LANGS, FaqEntry, FaqFile
from central.assistant.text import tokenize
from protocol.messages import DirectoryRoom


@dataclass(frozen=True, slots=True)
class Hit:
    """The best document for a question."""

    score: float
    entry: FaqEntry | None
    room: DirectoryRoom | None
    coverage: float
    """Share of the question's word weight (IDF; unknown words weigh most) that the best
    document contains: low when the question is mostly about something we do not know."""


class Index:
    """The retrieval index of one FAQ file and one room directory version."""

    def __init__(self, faq: FaqFile, rooms: list[DirectoryRoom]) -> None:
        self.faq = faq
        docs: list[list[str]] = []
        owners: list[FaqEntry | DirectoryRoom] = []
        for entry in faq.entries:
            for q in [*entry.questions.all(), *entry.keywords.all()]:
                docs.append(tokenize(q))
                owners.append(entry)
        # Rooms that an FAQ place entry already covers (payment, pharmacy, reception) are
        # answered by that entry: it routes to the nearest desk of the kind.
        covered = {k for e in faq.entries for k in (e.room_kind, e.place_kind) if k}
        for room in rooms:
            if room.kind in covered:
                continue
            aliases = [a.words for a in faq.room_aliases if room.room_id.startswith(a.room_prefix)]
            for lang in LANGS:
                words = [room.name.get(lang), room.department_name.get(lang)]
                for a in aliases:
                    words.extend(a.get(lang))
                docs.append(tokenize(" ".join(words)))
                owners.append(room)
        self._docs = [set(d) for d in docs]
        self._owners = owners
        self._bm25 = bm25s.BM25()
        self._bm25.index(docs, show_progress=False)
        n = len(docs)
        df: dict[str, int] = {}
        for d in self._docs:
            for t in d:
                df[t] = df.get(t, 0) + 1
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self._unknown_idf = math.log(1 + (n + 0.5) / 0.5)

    def search(self, question: str) -> Hit | None:
        """The best-scoring document for the question (None when no word is known)."""
        asked = set(tokenize(question))
        known = [t for t in asked if t in self._idf]
        if not known:
            return None
        scores = self._bm25.get_scores(known)
        best = int(np.argmax(scores))
        owner = self._owners[best]
        weight = sum(self._idf.get(t, self._unknown_idf) for t in asked)
        found = sum(self._idf[t] for t in known if t in self._docs[best])
        coverage = found / weight if weight else 0.0
        if isinstance(owner, FaqEntry):
            return Hit(float(scores[best]), owner, None, coverage)
        return Hit(float(scores[best]), None, owner, coverage)
