"""What the protocol tests read from SPEC.md: the normative CRC line and its stated check value."""

import re
from pathlib import Path

import pytest

SPEC = Path(__file__).parents[1] / "SPEC.md"


def crc_lines(text):
    return [line for line in text.splitlines() if line.startswith("CRC:")]


@pytest.fixture(scope="session")
def spec_text():
    return SPEC.read_text()


@pytest.fixture(scope="session")
def spec_crc_name(spec_text):
    """The crcmod predefined name on SPEC's one `CRC:` line."""
    lines = crc_lines(spec_text)
    assert len(lines) == 1, f"SPEC.md must have exactly one CRC: line, has {lines}"
    return lines[0][len("CRC:"):].strip()


@pytest.fixture(scope="session")
def spec_check_value(spec_text):
    """The check value SPEC states (over b"123456789")."""
    found = set(re.findall(r"check value (0x[0-9A-Fa-f]{4})", spec_text))
    assert len(found) == 1, f"SPEC.md must state one CRC check value, states {found}"
    return int(found.pop(), 16)
