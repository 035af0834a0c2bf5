"""The shared protocol of nfc-hospital: messages, topics, the journey, clocks and ids.

Imports nothing else of the project; every other part imports it.
"""

from protocol.base import SCHEMA_VERSION, LocalizedText, Message, Model
from protocol.codec import decode, decode_directory, encode
from protocol.errors import ClockSkewError, ConfigError, DecodeError, ProtocolError, TopicError
from protocol.hlc import HLCTimestamp, HybridLogicalClock
from protocol.ids import card_hash, mask_name, new_event_id, normalize_uid
from protocol.topics import Topics

__version__ = "0.1.0"

__all__ = [
    "SCHEMA_VERSION",
    "ClockSkewError",
    "ConfigError",
    "DecodeError",
    "HLCTimestamp",
    "HybridLogicalClock",
    "LocalizedText",
    "Message",
    "Model",
    "ProtocolError",
    "TopicError",
    "Topics",
    "__version__",
    "card_hash",
    "decode",
    "decode_directory",
    "encode",
    "mask_name",
    "new_event_id",
    "normalize_uid",
]
