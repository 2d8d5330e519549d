"""Link logic against an in-test fake board: retransmission, exactly-once, stale replies, loss."""

import time

import pytest
import serial
from fakeboard import FakeBoard, telemetry
from traction.errors import BoardUnreachable, NakError, PortError, ProtocolVersionError
from traction.link import Link
from traction.transport import open_port
from traction_protocol import encode

FAST = {"rto_first": 0.02, "rto_max": 0.05}


@pytest.fixture
def board():
    b = FakeBoard()
    yield b
    b.close()


@pytest.fixture
def link(board):
    lk = Link(open_port(board.url), **FAST)
    yield lk
    lk.close()


def test_request_returns_the_named_reply(link):
    info = link.request("HELLO", {"host_version": 2})
    assert info.name == "INFO" and info["serial"] == "FAKE-0001"


def test_lost_replies_are_retransmitted_and_executed_once(board, link):
    board.drop_replies = 3
    reply = link.request("SET_TIME", {"utc_s": 1})
    assert reply.name == "ACK"
    assert board.executed == ["SET_TIME"]  # the board saw it 4 times (more on a loaded machine), ran it once
    assert board.received == link.retransmissions + 1 >= 4


def test_lost_commands_are_retransmitted(board, link):
    board.drop_commands = 2
    link.request("ESTOP")
    assert board.executed == ["ESTOP"] and link.retransmissions >= 2


def test_duplicate_replies_are_dropped_as_stale(board, link):
    board.duplicate_replies = True
    link.request("SET_TIME", {"utc_s": 1})
    status = link.request("GET_STATUS")  # must not take the duplicate ACK for its reply
    assert status.name == "STATUS"
    # Every frame the board received was answered twice, and one answer per command was taken: the
    # rest are stale (2, or more when a loaded machine made the host retransmit).
    deadline = time.monotonic() + 10
    while link.stale_replies < 2 * board.received - 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert link.stale_replies == 2 * board.received - 2 >= 2
    assert board.executed == ["SET_TIME", "GET_STATUS"]


def test_each_command_gets_a_new_seq_so_repeats_execute(board, link):
    link.request("TARE")
    link.request("TARE")
    assert board.executed == ["TARE", "TARE"]


def test_nak_raises_with_the_error_name_and_the_fix(board, link):
    board.refuse["TARE"] = "BAD_STATE"
    with pytest.raises(NakError) as e:
        link.request("TARE")
    assert e.value.error == "BAD_STATE" and e.value.state == "IDLE"
    assert "TARE" in str(e.value) and e.value.fix in str(e.value)


def test_a_command_the_line_garbled_past_its_crc_is_sent_again(board, link):
    board.garble_commands = 2  # a noisy line: twice the board got our frame changed, with a valid CRC
    assert link.request("GET_STATUS").name == "STATUS"
    assert board.executed == ["GET_STATUS"] and link.retransmissions == 2


def test_a_malformed_nak_that_persists_is_believed(board, link):
    board.refuse["GET_STATUS"] = "BAD_LENGTH"  # the SDK and the firmware really disagree
    with pytest.raises(NakError, match="BAD_LENGTH"):
        link.request("GET_STATUS")
    assert board.executed.count("GET_STATUS") == 1  # the same bytes again get the remembered reply


def test_silent_board_is_unreachable_after_the_attempts(board, link):
    board.silent = True
    t0 = time.monotonic()
    with pytest.raises(BoardUnreachable, match="did not answer GET_STATUS after 6 attempts"):
        link.request("GET_STATUS")
    assert board.received == 6
    assert time.monotonic() - t0 >= 0.02 + 0.04 + 0.05 * 4 - 0.01


def test_vanished_board_is_reported_at_once(board, link):
    link.request("GET_STATUS")
    board.vanish()
    t0 = time.monotonic()
    with pytest.raises(BoardUnreachable, match="vanished"):
        for _ in range(50):
            link.request("GET_STATUS")
            time.sleep(0.01)
    assert time.monotonic() - t0 < 3.0  # not 50 requests' retransmission budgets
    assert link.lost


def test_garbage_and_corrupt_frames_are_dropped(board, link):
    good = encode("EVENT", 1, {"event": 1, "ms": 5, "kind": 1, "code": 3, "value": 0})
    corrupt = bytearray(good)
    corrupt[3] ^= 0x40
    seen = []
    link.add_listener(seen.append)
    board.send_raw(b"\x13\x37garbage\x00" + bytes(corrupt) + b"\xff" * 300 + b"\x00" + good)
    assert link.request("GET_STATUS").name == "STATUS"
    deadline = time.monotonic() + 10  # ends once seen: the bound is for a busy machine
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [m["event"] for m in seen] == [1]
    assert link.bad_frames == 3


def test_telemetry_goes_to_listeners_not_to_replies(board, link):
    seen = []
    link.add_listener(seen.append)
    board.send("TELEMETRY", telemetry(10, [(100, 120), (110, 120)]))
    assert link.request("GET_STATUS").name == "STATUS"
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen[0].name == "TELEMETRY" and seen[0]["samples"] == [(100, 120), (110, 120)]


def test_a_board_of_another_version_is_named(board):
    board.protocol = 1  # a version-1 board answers our version-2 frames with a NAK in version 1 (SPEC 12)
    link = Link(open_port(board.url), rto_first=5.0, rto_max=5.0)  # no retransmission on a loaded machine
    try:
        with pytest.raises(ProtocolVersionError, match="speaks protocol version 1"):
            link.request("HELLO", {"host_version": 2})
        assert link.retransmissions == 0  # the NAK ends the request: it is not retried
    finally:
        link.close()


def test_a_port_that_does_not_exist_is_one_clear_error():
    with pytest.raises(PortError, match="/dev/ttyNOPE9 does not exist"):
        open_port("/dev/ttyNOPE9")
    with pytest.raises(PortError, match="cannot open port socket://127.0.0.1:1"):
        open_port("socket://127.0.0.1:1")


class StolenReadsPort:
    """A port whose reads another program keeps taking: pyserial's empty-read error, now and then or
    always, while the device stays there."""

    def __init__(self, always=False):
        self.always = always
        self.reads = 0

    def read(self, n):
        self.reads += 1
        time.sleep(0.005)
        if self.always or self.reads % 3 == 0:
            raise serial.SerialException("device reports readiness to read but returned no data (device "
                                         "disconnected or multiple access on port?)")
        return b""

    def write(self, data):
        return len(data)

    def close(self):
        pass


def test_reads_another_program_takes_are_retried_and_named_as_the_cause(tmp_path):
    device = tmp_path / "ttyFAKE"
    device.write_text("")
    link = Link(StolenReadsPort(), device=str(device), **FAST)
    try:
        with pytest.raises(BoardUnreachable, match="another program is reading the port without locking it"):
            link.request("GET_STATUS")
        assert link.lost is None and link.stolen_reads > 0  # the link is still there: not "vanished"
    finally:
        link.close()


def test_reads_that_keep_failing_end_the_link_naming_both_causes(tmp_path):
    device = tmp_path / "ttyFAKE"
    device.write_text("")
    link = Link(StolenReadsPort(always=True), device=str(device), **FAST)
    try:
        deadline = time.monotonic() + 30
        while link.lost is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "reads nothing for 2 s (unplugged, or another program is reading it" in link.lost
    finally:
        link.close()
