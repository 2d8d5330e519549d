"""SPEC.md and the codec cannot drift: generated tables, the CRC line and the worked example."""

import re
import sys
from pathlib import Path

import crcmod.predefined
import reference
from traction_protocol import VERSION, crc, encode

PROTOCOL = Path(__file__).parents[1]


def spec_tables():
    sys.path.insert(0, str(PROTOCOL))
    try:
        import spec_tables
    finally:
        sys.path.remove(str(PROTOCOL))
    return spec_tables


def test_generated_section_matches_the_codec(spec_text):
    tables = spec_tables()
    begin = spec_text.index(tables.BEGIN)
    end = spec_text.index(tables.END) + len(tables.END)
    assert spec_text.count(tables.BEGIN) == 1 and spec_text.count(tables.END) == 1
    assert spec_text[begin:end] == tables.generated(), "run python protocol/spec_tables.py --write"


def test_crc_line_names_a_crcmod_function_with_the_stated_check_value(spec_crc_name, spec_check_value):
    crcmod_crc = crcmod.predefined.mkCrcFun(spec_crc_name)
    assert crcmod_crc(b"123456789") == spec_check_value == crc.CHECK_VALUE
    assert crc.crc16(b"123456789") == crc.CHECK_VALUE


def test_reference_receiver_uses_the_spec_crc(spec_crc_name):
    assert reference.CRC_NAME == spec_crc_name


def test_board_table_crc_equals_crcmod_on_many_inputs(spec_crc_name):
    crcmod_crc = crcmod.predefined.mkCrcFun(spec_crc_name)
    data = bytes((i * 37 + 11) & 0xFF for i in range(600))
    for n in (0, 1, 2, 5, 64, 254, 600):
        assert crc.crc16(data[:n]) == crcmod_crc(data[:n])


def test_worked_example_is_what_the_codec_sends(spec_text):
    example = spec_text[spec_text.index("## 13. Example"):]
    decoded = re.search(r"decoded frame: ((?:[0-9a-f]{2} )+)", example).group(1).split()
    wire = re.search(r"on the wire: +((?:[0-9a-f]{2} ?)+)", example).group(1).split()
    sent = encode("HELLO", 1, {"host_version": VERSION})
    assert bytes.fromhex("".join(wire)) == sent
    body = bytes((VERSION, 1, 1, VERSION))
    assert bytes.fromhex("".join(decoded)) == body + crc.crc16(body).to_bytes(2, "little")
