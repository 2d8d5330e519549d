# The codec's typed errors. Each has the name SPEC.md gives it; nothing else escapes the decoder.


class ProtocolError(Exception):
    name = "PROTOCOL_ERROR"


class FrameError(ProtocolError):
    """The bytes between two delimiters are not a valid frame."""


class BadCobs(FrameError):
    name = "BAD_COBS"


class Oversized(FrameError):
    name = "OVERSIZED"


class Truncated(FrameError):
    name = "TRUNCATED"


class CrcMismatch(FrameError):
    name = "CRC_MISMATCH"


class MessageError(ProtocolError):
    """A frame with a good CRC whose content is not a valid message. seq and type are known."""

    def __init__(self, msg, seq=None, type_id=None):
        super().__init__(msg)  # MicroPython: Exception has no __init__ attribute to call directly
        self.seq = seq
        self.type_id = type_id


class UnsupportedVersion(MessageError):
    name = "UNSUPPORTED_VERSION"


class UnknownType(MessageError):
    name = "UNKNOWN_TYPE"


class BadLength(MessageError):
    name = "BAD_LENGTH"


class OutOfRange(MessageError):
    name = "OUT_OF_RANGE"


class EncodeError(ProtocolError):
    """The caller asked to encode something the catalogue does not allow."""

    name = "ENCODE_ERROR"


ALL = (BadCobs, Oversized, Truncated, CrcMismatch, UnsupportedVersion, UnknownType, BadLength, OutOfRange)
BY_NAME = {cls.name: cls for cls in ALL}
