# The vector suite under the real MicroPython interpreter (run by the root conftest.py plugin, with the
# current directory set to this folder; __file__ is not reliable on MicroPython, so paths are relative).

import vector_cases
from traction_protocol import cobs, crc

VECTORS = "../vectors"


def _vectors(file_name):
    return [v for v in vector_cases.load(VECTORS) if v["file"] == file_name]


def test_message_vectors():
    vectors = _vectors("messages.json")
    assert len(vectors) > 20
    bad = vector_cases.failures(vectors)
    assert not bad, "\n".join(bad)


def test_error_vectors():
    vectors = _vectors("errors.json")
    assert len(vectors) > 20
    bad = vector_cases.failures(vectors)
    assert not bad, "\n".join(bad)


def test_board_crc_table_check_value():
    assert crc.CHECK_VALUE == 0x6F91
    assert crc.crc16(b"123456789") == crc.CHECK_VALUE


def test_board_crc_agrees_with_every_valid_vector():
    for v in _vectors("messages.json"):
        body = cobs.decode(bytes.fromhex(v["wire"])[:-1])
        got = body[-2] | (body[-1] << 8)
        assert crc.crc16(body, 0xFFFF, 0, len(body) - 2) == got, v["name"]


def test_codec_uses_the_board_crc_here():
    # crcmod does not exist on MicroPython: the framing layer must have fallen back to the table
    from traction_protocol import framing

    assert framing.crc16 is crc.crc16
