"""The emulated board's image (docs/firmware.md): what the port patch and _boot.py must give the firmware.
Runs with `pytest --board mcu` after `traction build --target qemu` (as .ci/run does). (The missing
mp_hal_time_ns is caught by the build itself: littlefs does not link without it.)"""

import pytest
from traction import Device
from traction.emulated_board import EmulatedBoard


@pytest.fixture
def board(request):
    if request.config.getoption("--board") != "mcu":
        pytest.skip("the emulated board runs with --board mcu (.ci/run)")
    with EmulatedBoard() as b:
        yield b
        b.check()


def _repl(board):
    from mpremote.transport_serial import SerialTransport

    t = SerialTransport(board.port)
    t.enter_raw_repl(soft_reset=False)  # breaks into the running firmware (SPEC section 11)
    return t


def test_main_py_runs_at_boot_and_answers_the_host(board, tmp_path):
    # ports/qemu ran neither boot.py nor main.py: the board stayed at the REPL and never answered
    with Device.open(board.port, store=tmp_path / "host.db", key=board.key) as dev:
        assert dev.info.serial == board.serial and dev.status().state == "IDLE"
        assert dev.status().fault is None  # boot.py found a writable store: no boot failure latched


def test_the_store_is_writable_and_survives_machine_reset(board, tmp_path):
    # the firmware answering means boot.py has finished: a break-in before that would interrupt it
    with Device.open(board.port, store=tmp_path / "host.db", key=board.key) as dev:
        assert dev.status().state == "IDLE"
    t = _repl(board)
    try:
        t.fs_writefile("/kept.txt", b"across a reset")
        assert t.fs_exists("/board.json")  # boot.py gave the empty store the image's board config
        t.exec_raw_no_follow("import machine; machine.reset()")  # a system reset: QEMU goes on
    finally:
        t.close()
    # after the reset main.py runs again and answers...
    with Device.open(board.port, store=tmp_path / "host.db", key=board.key) as dev:
        assert dev.status().state == "IDLE"
    # ... and what was written is still there
    t = _repl(board)
    try:
        assert t.fs_readfile("/kept.txt") == b"across a reset"
    finally:
        t.close()
    assert board.running()
