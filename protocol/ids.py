"""Identifiers, the keyed card hash and name masking.

Stations never store a card UID or a full name: the UID becomes an HMAC-SHA256 under the
site key, and names are masked before they leave central.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_HEX_RE = re.compile(r"^[0-9A-F]+$")


def is_valid_id(value: str) -> bool:
    """True when `value` is safe as a station or room id (and so as one MQTT topic level)."""
    return bool(_ID_RE.match(value))


def new_event_id() -> uuid.UUID:
    """A fresh random event id (UUID4)."""
    return uuid.uuid4()


def normalize_uid(uid: str) -> str:
    """Upper-case hex with separators (`:`, `-`, spaces) removed.

    Raises ValueError when what is left is not an even number of hex digits between 4 and 20
    bytes, which is the range of real ISO 14443 / FeliCa identifiers.
    """
    cleaned = re.sub(r"[\s:\-]", "", uid).upper()
    if not _HEX_RE.match(cleaned) or len(cleaned) % 2:
        raise ValueError(f"card UID {uid!r} is not a hex string of whole bytes")
    if not 4 <= len(cleaned) // 2 <= 20:
        raise ValueError(f"card UID {uid!r} has {len(cleaned) // 2} bytes; expected 4 to 20")
    return cleaned


def card_hash(site_key: bytes, uid: str) -> str:
    """Keyed hash of a card UID: hex HMAC-SHA256 of the normalized UID under the site key."""
    if len(site_key) < 16:
        raise ValueError("the site key must be at least 16 bytes")
    return hmac.new(site_key, normalize_uid(uid).encode("ascii"), hashlib.sha256).hexdigest()


def _is_hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3" or "\u3131" <= ch <= "\u318e"


def _mask_word(word: str) -> str:
    if len(word) <= 1:
        return word
    return word[0] + "*" * (len(word) - 1)


def mask_name(name: str) -> str:
    """Mask a patient's name for public screens.

    Korean names keep the first and last syllable (김민수 → 김*수, 남궁민수 → 남**수,
    김민 → 김*); Latin names keep each word's initial (John Smith → J*** S****).
    A single character is fully masked, since showing it would show the whole name.
    """
    name = " ".join(name.split())
    if not name:
        return ""
    compact = name.replace(" ", "")
    if all(_is_hangul(ch) for ch in compact) or all("\u4e00" <= ch <= "\u9fff" for ch in compact):
        if len(compact) == 1:
            return "*"
        if len(compact) == 2:
            return compact[0] + "*"
        return compact[0] + "*" * (len(compact) - 2) + compact[-1]
    words = name.split(" ")
    if len(words) == 1 and len(words[0]) == 1:
        return "*"
    return " ".join(_mask_word(w) for w in words)


SITE_KEY_MIN_BYTES = 16


def format_site_key(key: bytes) -> str:
    """The site key file's content: the key as lower-case hex text and a newline.

    Central, every station and provisioning read and write this one format, so one copied
    file gives the same card hashes everywhere.
    """
    if len(key) < SITE_KEY_MIN_BYTES:
        raise ValueError(f"the site key must be at least {SITE_KEY_MIN_BYTES} bytes")
    return key.hex() + "\n"


def parse_site_key(text: str, where: str) -> bytes:
    """Parse a site key file's content (hex text); `where` names the file in errors."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError(f"{where}: the site key file must hold hex text") from None
    if len(key) < SITE_KEY_MIN_BYTES:
        raise ValueError(
            f"{where}: the site key must be at least {SITE_KEY_MIN_BYTES} bytes, found {len(key)}"
        )
    return key
