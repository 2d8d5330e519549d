"""Every test vector through the codec on CPython, with the CRC checked independently of the codec."""

import sys
from pathlib import Path

import crcmod.predefined
import pytest
import reference
import vector_cases
from traction_protocol import CATALOGUE, errors
from traction_protocol.messages import BY_NAME

PROTOCOL = Path(__file__).parents[1]
VECTORS = vector_cases.load(str(PROTOCOL / "vectors"))
FRAME_ERRORS = {"OVERSIZED", "BAD_COBS", "TRUNCATED", "CRC_MISMATCH"}


def crc_trailer_ok(spec_crc_name, wire):
    body = reference.unstuff(wire[:-1])
    crc = crcmod.predefined.mkCrcFun(spec_crc_name)
    return crc(body[:-2]) == int.from_bytes(body[-2:], "little")


@pytest.mark.parametrize("vector", VECTORS, ids=[f"{v['file']}:{v['name']}" for v in VECTORS])
def test_vector(vector):
    vector_cases.check(vector)


@pytest.mark.parametrize("vector", [v for v in VECTORS if v.get("error") not in FRAME_ERRORS],
                         ids=lambda v: v["name"])
def test_crc_of_every_good_frame_checks_with_crcmod(vector, spec_crc_name):
    assert crc_trailer_ok(spec_crc_name, bytes.fromhex(vector["wire"]))


@pytest.mark.parametrize("vector", [v for v in VECTORS if v.get("error") == "CRC_MISMATCH"],
                         ids=lambda v: v["name"])
def test_crc_mismatch_vectors_really_mismatch(vector, spec_crc_name):
    assert not crc_trailer_ok(spec_crc_name, bytes.fromhex(vector["wire"]))


def test_spec_crc_check_value(spec_crc_name, spec_check_value):
    assert crcmod.predefined.mkCrcFun(spec_crc_name)(b"123456789") == spec_check_value


def test_every_message_type_has_a_vector():
    covered = {v["message"]["type"] for v in VECTORS if "message" in v}
    assert covered == {entry[1] for entry in CATALOGUE}


def test_every_tail_has_an_empty_and_a_full_vector():
    for spec in BY_NAME.values():
        if not spec.tail:
            continue
        tname, max_count = spec.tail[0], spec.tail[3]
        counts = set()
        for v in VECTORS:
            if v.get("message", {}).get("type") == spec.name:
                tail = v["message"]["fields"][tname]
                counts.add(len(tail) // 2 if isinstance(tail, str) else len(tail))
        assert {0, max_count} <= counts, f"{spec.name}.{tname} vectors have {sorted(counts)} items"


def test_every_error_has_a_vector():
    named = {v["error"] for v in VECTORS if "error" in v}
    assert named == set(errors.BY_NAME)


def test_committed_vectors_are_what_make_vectors_writes():
    sys.path.insert(0, str(PROTOCOL))
    try:
        import make_vectors
    finally:
        sys.path.remove(str(PROTOCOL))
    for name, text in make_vectors.outputs().items():
        assert (PROTOCOL / "vectors" / name).read_text() == text, f"{name} is stale: run make_vectors.py"
