"""Property tests: whatever bytes arrive, in whatever chunks, the codec hands out only frames that a receiver
written from SPEC.md would accept, or the codec's typed errors; and it loses no valid frame."""

import pytest
import reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from traction_protocol import (
    BY_NAME,
    CATALOGUE,
    MAX_PAYLOAD,
    VERSION,
    EncodeError,
    Frame,
    FrameDecoder,
    FrameError,
    Message,
    MessageError,
    decode,
    decode_frame,
    encode,
    encode_frame,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


INT_RANGE = {"B": (0, 0xFF), "H": (0, 0xFFFF), "I": (0, 0xFFFFFFFF),
             "b": (-0x80, 0x7F), "h": (-0x8000, 0x7FFF), "i": (-0x80000000, 0x7FFFFFFF)}


def field_value(kind, lo, hi):
    if kind == "text16":
        return st.text(PRINTABLE, max_size=16)
    if kind == "bytes32":
        return st.binary(min_size=32, max_size=32)
    return st.integers(lo, hi)


def tail_value(spec):
    tname, kind, item_fields, max_count = spec.tail
    if kind == "bytes":
        return st.binary(max_size=max_count)
    item = tuple(st.integers(*INT_RANGE[code]) for code in kind[len("struct:"):])
    items = st.tuples(*item) if len(item) > 1 else item[0]
    return st.lists(items, max_size=max_count)


@st.composite
def messages(draw):
    """Any valid message of the catalogue, with any in-range field values."""
    spec = BY_NAME[draw(st.sampled_from([entry[1] for entry in CATALOGUE]))]
    fields = {f[0]: draw(field_value(f[1], f[2], f[3])) for f in spec.fields}
    if spec.tail:
        fields[spec.tail[0]] = draw(tail_value(spec))
    return Message(spec.name, draw(st.integers(0, 255)), fields)


@st.composite
def chunked(draw, data):
    """data cut at random points, as a serial port might hand it over."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def feed(chunks):
    decoder = FrameDecoder()
    items = []
    for chunk in chunks:
        items.extend(decoder.feed(chunk))
    return items


def received(items):
    """The decoder's items in the reference receiver's terms: frame bytes without CRC, or an error name."""
    out = []
    for item in items:
        assert isinstance(item, Frame | FrameError), f"decoder handed out {item!r}"
        if isinstance(item, Frame):
            out.append(bytes((item.version, item.seq, item.type_id)) + bytes(item.payload))
        else:
            out.append(item.name)
    return out


def check_messages(items):
    """decode() on every frame: a Message that re-encodes to the same frame, or a MessageError."""
    for item in items:
        if not isinstance(item, Frame):
            continue
        try:
            msg = decode(item)
        except MessageError as e:
            assert e.seq == item.seq and e.type_id == item.type_id
            continue
        again = decode_frame(encode(msg.name, msg.seq, msg.fields)[:-1])
        assert again == item, f"{msg!r} re-encodes differently"


def check_stream(chunks):
    stream = b"".join(chunks)
    items = feed(chunks)
    assert received(items) == reference.receive(stream)
    check_messages(items)
    return items


@FAST
@given(st.data(), st.binary(max_size=1200))
def test_random_bytes_give_only_good_frames_or_typed_errors(data, stream):
    check_stream(data.draw(chunked(stream)))


@FAST
@given(st.data(), st.lists(st.binary(min_size=1, max_size=40), max_size=12))
def test_random_blocks_between_delimiters(data, blocks):
    # short blocks make every step of section 3.1 likely, which long random runs are not
    check_stream(data.draw(chunked(b"\x00".join(blocks) + b"\x00")))


def mutated(wire, edits):
    out = bytearray(wire)
    for kind, at, value in edits:
        at %= len(out) + 1
        if kind == "flip" and at < len(out):
            out[at] ^= 1 << (value % 8)
        elif kind == "set" and at < len(out):
            out[at] = value
        elif kind == "insert":
            out.insert(at, value)
        elif kind == "delete" and at < len(out):
            del out[at]
    return bytes(out)


EDITS = st.lists(st.tuples(st.sampled_from(["flip", "set", "insert", "delete"]), st.integers(0, 300),
                           st.integers(0, 255)), min_size=1, max_size=4)


@FAST
@given(st.data(), st.lists(messages(), min_size=1, max_size=4), EDITS)
def test_mutated_frames_never_pass_a_bad_crc(data, msgs, edits):
    wire = mutated(b"".join(encode(m.name, m.seq, m.fields) for m in msgs), edits)
    check_stream(data.draw(chunked(wire)))


# Payloads up to the maximum, often without a single zero byte: the worst case for COBS.
PAYLOADS = st.one_of(st.binary(max_size=MAX_PAYLOAD),
                     st.builds(lambda b, n: bytes([b]) * n, st.integers(1, 255), st.integers(0, MAX_PAYLOAD)))


@FAST
@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), PAYLOADS)
def test_any_frame_up_to_the_maximum_size_is_received(version, seq, type_id, payload):
    wire = encode_frame(seq, type_id, payload, version)
    assert len(wire) <= len(payload) + 7
    assert feed([wire]) == [Frame(version, seq, type_id, payload)]


def test_largest_frames_without_zero_bytes():
    # a 254-byte frame with no zero byte is one full COBS run: it must still fit 255 encoded bytes
    for fill in range(1, 256):
        wire = encode_frame(fill, 0x87, bytes([fill]) * MAX_PAYLOAD)
        assert len(wire) <= 256
        assert feed([wire]) == [Frame(VERSION, fill, 0x87, bytes([fill]) * MAX_PAYLOAD)]


def test_a_payload_over_the_maximum_is_refused():
    with pytest.raises(EncodeError):
        encode_frame(0, 0x87, bytes(MAX_PAYLOAD + 1))


@st.composite
def frames_with_good_crc(draw):
    """A frame of a catalogue type whose payload is random bytes of about the right length."""
    spec = BY_NAME[draw(st.sampled_from([entry[1] for entry in CATALOGUE]))]
    items = draw(st.integers(0, spec.tail[3] + 1)) if spec.tail else 0
    size = spec.size + items * (spec.item_size if spec.tail else 0) + draw(st.sampled_from([0, 0, 0, -1, 1]))
    version = draw(st.sampled_from([1, 1, 1, 1, 0, 2, 255]))
    return Frame(version, draw(st.integers(0, 255)), spec.type_id, draw(st.binary(min_size=max(0, size),
                                                                                  max_size=max(0, size))))


@settings(max_examples=400, deadline=None)
@given(frames_with_good_crc())
def test_decode_raises_only_message_errors_and_accepts_only_canonical_frames(frame):
    check_messages([frame])


@FAST
@given(messages())
def test_every_valid_message_round_trips(msg):
    items = feed([encode(msg.name, msg.seq, msg.fields)])
    assert len(items) == 1
    got = decode(items[0])
    want = dict(msg.fields)
    if BY_NAME[msg.name].tail and BY_NAME[msg.name].tail[1] == "bytes":
        want[BY_NAME[msg.name].tail[0]] = bytes(want[BY_NAME[msg.name].tail[0]])
    assert (got.name, got.seq, got.fields) == (msg.name, msg.seq, want)


@FAST
@given(st.data(), st.lists(st.tuples(st.binary(max_size=400), messages()), min_size=1, max_size=6),
       st.binary(max_size=300))
def test_frames_in_garbage_are_all_recovered_in_order(data, parts, trailing):
    # Garbage (which may hold delimiters, or run past the maximum frame size) costs at most the frame
    # it touches: a sender that starts each frame with a delimiter loses none of them.
    stream = b""
    sent = []
    for garbage, msg in parts:
        wire = encode(msg.name, msg.seq, msg.fields)
        sent.append(decode_frame(wire[:-1]))
        stream += garbage + b"\x00" + wire
    items = check_stream(data.draw(chunked(stream + trailing)))
    frames = iter([item for item in items if isinstance(item, Frame)])
    for frame in sent:
        assert any(got == frame for got in frames), f"lost {frame!r}"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=MAX_PAYLOAD), st.integers(0, 255))
def test_any_samples_payload_decodes_to_whole_conversions_or_a_typed_error(payload, seq):
    """SAMPLES (0x89): whatever payload arrives, the decoder gives its fixed fields in range and one
    signed 32-bit item per 4 bytes after them, or a BAD_LENGTH / OUT_OF_RANGE error; nothing else."""
    spec = BY_NAME["SAMPLES"]
    try:
        msg = decode(Frame(VERSION, seq, spec.type_id, payload))
    except MessageError as e:
        assert e.name in ("BAD_LENGTH", "OUT_OF_RANGE")
        return
    f = msg.fields
    assert len(f["counts"]) * 4 == len(payload) - spec.size <= 56 * 4
    assert 0 <= f["first"] < 1 << 30 and f["sps"] >= 1
    assert all(-(1 << 31) <= c < 1 << 31 for c in f["counts"])
    assert decode(decode_frame_of(msg)) == msg  # and it re-encodes to the same frame


def decode_frame_of(msg):
    """The Frame a message's wire bytes hold."""
    return feed([encode(msg.name, msg.seq, msg.fields)])[0]
