"""The cards directory written from plain rows validates as the model and is exactly what
encoding that model gives back (canonical), awkward names included."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from central.store.schema import patients, visit_steps
from protocol.codec import decode, encode
from protocol.messages import DirectoryCards
from tests.support.central_db import *  # noqa: F403
from tests.support.central_db import small_hospital

pytestmark = pytest.mark.integration

AWKWARD = [
    '김"*\\각',
    "Ann\n*\u2028e",
    "<img*src=x onerror=alert(1)>",
    "\u00e9*\U0001f600",
    "\x7f*",
]


def test_the_fast_cards_document_equals_the_model_encoding(engine):
    visits = {f"v{i}": ["r1", "r2", "r3"][: 1 + i % 3] for i in range(1, 13)}
    engine.load(small_hospital(visits))
    engine.check_in("v1", actor="n")
    engine.check_in("v2", actor="n")
    engine.call_next("r1", actor="n")
    engine.check_in("v3", actor="n")
    engine.cancel("v3", actor="n")
    with engine.db.write() as conn:
        for i, name in enumerate(AWKWARD, start=4):
            conn.execute(
                update(patients)
                .where(patients.c.registration_no == f"R{i:05d}")
                # the masked name as stored, whatever a hostile import left in it
                .values(masked_name=name)
            )
        conn.execute(
            update(visit_steps)
            .where(visit_steps.c.visit_id == "v5")
            .values(label={"ko": '채혈 "실"', "en": "Blood\ttest", "zh": "抽血", "ja": None})
        )
    engine.check_in("v4", actor="n")  # bumps the cards version past the direct edits
    fast = engine.directory_cards_json()
    model = engine.directory_cards()
    assert fast == encode(model)
    assert decode(DirectoryCards, fast) == model
    assert {c.masked_name for c in model.cards} >= set(AWKWARD)
    assert engine.directory_cards_json() is fast  # cached per version
    engine.check_in("v6", actor="n")
    again = engine.directory_cards_json()
    assert decode(DirectoryCards, again).version == model.version + 1
    assert again == encode(engine.directory_cards())
