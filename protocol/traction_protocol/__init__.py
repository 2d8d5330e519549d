# traction_protocol: the one codec shared by the board (MicroPython) and the host (CPython). See SPEC.md.

from .errors import (BadCobs, BadLength, CrcMismatch, EncodeError, FrameError, MessageError, OutOfRange,
                     Oversized, ProtocolError, Truncated, UnknownType, UnsupportedVersion)
from .framing import MAX_FRAME, MAX_PAYLOAD, VERSION, Frame, FrameDecoder, decode_frame, encode_frame
from .messages import BY_ID, BY_NAME, CATALOGUE, Message, decode, encode, frame_of

__all__ = [
    "BY_ID", "BY_NAME", "CATALOGUE", "MAX_FRAME", "MAX_PAYLOAD", "VERSION",
    "BadCobs", "BadLength", "CrcMismatch", "EncodeError", "Frame", "FrameDecoder", "FrameError",
    "Message", "MessageError", "OutOfRange", "Oversized", "ProtocolError", "Truncated", "UnknownType",
    "UnsupportedVersion", "decode", "decode_frame", "encode", "encode_frame", "frame_of",
]
