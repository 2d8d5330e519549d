"""The product image `traction build --target pico` made: a well-formed RP2040 UF2 of firmware.bin, with
the firmware and hal/rp2 frozen in, hal/sim left out, the port's own _boot.py, pico.json as the default
board config, and the CDC write timeout compiled at 2 ms. Skipped when no image was built, unless
$TRACTION_PICO_IMAGE names one (as .ci/run does after building it): then a missing image fails."""

import os
import struct
from pathlib import Path

import pytest
from traction import build_pico

UF2_MAGIC = (0x0A324655, 0x9E5D5157, 0x0AB16F30)
FAMILY_PRESENT = 0x2000
RP2040 = 0xE48BFF56


@pytest.fixture(scope="module")
def image():
    named = os.environ.get("TRACTION_PICO_IMAGE")
    path = Path(named) if named else build_pico.image_path()
    if not path.exists():
        if named:
            pytest.fail(f"no image at {path}")
        pytest.skip("no Pico image built (traction build --target pico)")
    return path


def blocks(data):
    assert len(data) % 512 == 0
    for off in range(0, len(data), 512):
        b = data[off:off + 512]
        m0, m1, flags, addr, size, seq, total, family = struct.unpack_from("<8I", b)
        assert (m0, m1, struct.unpack_from("<I", b, 508)[0]) == UF2_MAGIC
        yield flags, addr, size, seq, total, family, b[32:32 + size]


def test_uf2_is_firmware_bin_for_the_rp2040(image):
    data = image.read_bytes()
    payload = bytearray()
    addr_next = 0x10000000
    n = len(data) // 512
    for i, (flags, addr, size, seq, total, family, chunk) in enumerate(blocks(data)):
        assert flags & FAMILY_PRESENT and family == RP2040
        assert (seq, total) == (i, n)
        assert addr == addr_next and size == 256
        addr_next += size
        payload += chunk
    binary = (image.parent / "build-rp2" / "firmware.bin").read_bytes()
    assert payload[:len(binary)] == binary and len(payload) - len(binary) < 256


def test_frozen_content(image):
    binary = (image.parent / "build-rp2" / "firmware.bin").read_bytes()
    for name in (b"traction_fw/app.py", b"traction_fw/hal/rp2/board.py", b"traction_fw/hal/rp2/pio.py",
                 b"traction_fw/hal/rp2/region.py", b"traction_protocol/", b"_boot.py", b"flashstore.py",
                 b"rp2.py", b"image_config.py"):
        assert name in binary, name
    assert b"traction_fw/hal/sim" not in binary
    assert b'"hal": "rp2"' in binary  # pico.json as the default board.json


def test_cdc_write_timeout_compiled_at_2_ms(image):
    flags = (image.parent / "build-rp2" / "CMakeCache.txt").read_text()
    assert "-DMICROPY_HW_USB_CDC_TX_TIMEOUT=2" in flags
