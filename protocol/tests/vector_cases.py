# The test vectors (protocol/vectors/*.json) and how to check the codec against one of them.
# Shared by the CPython suite (test_vectors.py) and the MicroPython one (mp_test_vectors.py), so it uses
# only what both interpreters have: json, bytes.hex / bytes.fromhex, no pathlib.

import json

from traction_protocol import BY_NAME, FrameDecoder, FrameError, MessageError, decode, encode

FILES = ("messages.json", "errors.json")


def load(folder):
    """All vectors of both files, each with a "file" key added."""
    vectors = []
    for name in FILES:
        with open(folder + "/" + name) as f:
            for v in json.load(f):
                v["file"] = name
                vectors.append(v)
    return vectors


def fields_from_json(type_name, fields):
    """The codec's fields for a vector's JSON fields: hex strings back to bytes, tail items to tuples."""
    spec = BY_NAME[type_name]
    out = {}
    for key in fields:
        out[key] = fields[key]
    for f in spec.fields:
        if f[1] == "bytes32":
            out[f[0]] = bytes.fromhex(out[f[0]])
    if spec.tail:
        tname, kind, item_fields = spec.tail[0], spec.tail[1], spec.tail[2]
        if kind == "bytes":
            out[tname] = bytes.fromhex(out[tname])
        elif len(item_fields) > 1:
            out[tname] = [tuple(item) for item in out[tname]]
    return out


def outcome(wire, chunk=None):
    """Feed wire bytes to a fresh decoder (whole, or chunk bytes at a time) and decode what comes out.

    Returns the list of Message objects and ProtocolError instances in arrival order.
    """
    decoder = FrameDecoder()
    step = chunk or len(wire) or 1
    items = []
    for i in range(0, len(wire), step):
        items.extend(decoder.feed(wire[i:i + step]))
    out = []
    for item in items:
        if isinstance(item, FrameError):
            out.append(item)
            continue
        try:
            out.append(decode(item))
        except MessageError as e:
            out.append(e)
    return out


def check(vector):
    """Raise AssertionError unless the codec does exactly what the vector says, in every chunking."""
    wire = bytes.fromhex(vector["wire"])
    name = vector["name"]
    assert wire[-1:] == b"\x00" and wire.count(b"\x00") == 1, name + ": one frame, delimiter last"
    for chunk in (None, 1, 3):
        got = outcome(wire, chunk)
        assert len(got) == 1, f"{name}: {len(got)} items from the decoder, want 1: {got!r}"
        item = got[0]
        if "error" in vector:
            want = vector["error"]
            assert not hasattr(item, "fields"), f"{name}: decoded {item!r}, want {want}"
            assert item.name == want, f"{name}: {item.name} ({item}), want {want}"
        else:
            check_message(vector, item)
    if "message" in vector:
        want = vector["message"]
        again = encode(want["type"], want["seq"], fields_from_json(want["type"], want["fields"]))
        assert again == wire, f"{name}: re-encoded to {again.hex()}"


def check_message(vector, item):
    name = vector["name"]
    want = vector["message"]
    kind, seq = want["type"], want["seq"]
    assert hasattr(item, "fields"), f"{name}: {item.name} ({item}), want a {kind} message"
    assert item.name == kind, f"{name}: type {item.name}, want {kind}"
    assert item.seq == seq, f"{name}: seq {item.seq}, want {seq}"
    expected = fields_from_json(kind, want["fields"])
    assert sorted(item.fields) == sorted(expected), f"{name}: fields {sorted(item.fields)}"
    for key in expected:
        got = item.fields[key]
        assert got == expected[key], f"{name}: {key} = {got!r}, want {expected[key]!r}"


def failures(vectors):
    """Names and messages of the vectors the codec gets wrong (all of them checked, not the first only)."""
    bad = []
    for v in vectors:
        try:
            check(v)
        except AssertionError as e:
            bad.append(str(e))
    return bad
