# The link server against SPEC sections 3-7 and 11, over the sim board's memory link: the state/command
# acceptance table, exactly-once execution of retransmissions, the lease, NAKs for bad frames,
# telemetry and events, provisioning that cannot raise a limit, and the REPL break-in.

import fw_harness as h
from hazard import hazard
from traction_protocol import encode
from traction_protocol.constants import ERROR, STATE
from traction_protocol.framing import encode_frame

IDLE, READY, RUNNING, PAUSED, RELEASING, FAULT, SERVICE = 1, 2, 3, 4, 5, 6, 7
STATES = (IDLE, READY, RUNNING, PAUSED, RELEASING, FAULT, SERVICE)
PHASE0 = dict(h.phase(mode=1, force_dn=3000, ramp_up_ms=3000, ramp_down_ms=20000, duration_ms=30000), index=0)
A = "A"
R = "BAD_STATE"

# SPEC section 7, one row per command: what each state answers
TABLE = {
    "HELLO": {s: A for s in STATES},
    "HEARTBEAT": {s: A for s in STATES},
    "SET_TIME": {s: A for s in STATES},
    "GET_STATUS": {s: A for s in STATES},
    "RECORD_LIST": {s: A for s in STATES},
    "RECORD_READ": {s: "UNKNOWN_RECORD" for s in STATES},  # accepted: the id is what is refused
    "RECORD_ACK": {s: "UNKNOWN_RECORD" for s in STATES},
    "SETUP": {IDLE: A, READY: A, RUNNING: R, PAUSED: R, RELEASING: R, FAULT: R, SERVICE: R},
    "PHASE": {IDLE: "NO_SETUP", READY: A, RUNNING: R, PAUSED: R, RELEASING: R, FAULT: R, SERVICE: R},
    "START": {IDLE: "NO_SETUP", READY: A, RUNNING: R, PAUSED: R, RELEASING: R, FAULT: R, SERVICE: R},
    "PAUSE": {IDLE: R, READY: R, RUNNING: A, PAUSED: A, RELEASING: R, FAULT: R, SERVICE: R},
    "RESUME": {IDLE: R, READY: R, RUNNING: A, PAUSED: A, RELEASING: R, FAULT: R, SERVICE: R},
    "EDIT_FORCE": {IDLE: R, READY: R, RUNNING: A, PAUSED: A, RELEASING: R, FAULT: R, SERVICE: R},
    "STOP": {s: A for s in STATES},
    "ESTOP": {s: A for s in STATES},
    "CLEAR_FAULT": {IDLE: R, READY: R, RUNNING: R, PAUSED: R, RELEASING: R, FAULT: A, SERVICE: R},
    "TARE": {IDLE: A, READY: A, RUNNING: R, PAUSED: R, RELEASING: R, FAULT: R, SERVICE: A},
    "SERVICE_ENTER": {IDLE: "NO_JUMPER", READY: R, RUNNING: R, PAUSED: R, RELEASING: R, FAULT: R, SERVICE: A},
    "SERVICE_EXIT": {IDLE: R, READY: R, RUNNING: R, PAUSED: R, RELEASING: R, FAULT: R, SERVICE: A},
    "PROVISION": {s: "NOT_SERVICE" for s in STATES},
    "CALIBRATE": {s: "NOT_SERVICE" for s in STATES},
    "LOADCELL_READ": {s: A for s in STATES},
    "JOG": {s: "NOT_SERVICE" for s in STATES},
}
TABLE["JOG"][SERVICE] = A
TABLE["WATCHDOG_TEST"] = {s: "NOT_SERVICE" for s in STATES}
TABLE["WATCHDOG_TEST"][SERVICE] = A  # (the harness's watchdog is not started: no reset follows)
TABLE["PROVISION"][SERVICE] = A
TABLE["CALIBRATE"][SERVICE] = A

FIELDS = {
    "HELLO": {"host_version": 2}, "HEARTBEAT": {"lease_ms": 5000}, "SET_TIME": {"utc_s": 1767225600},
    "RECORD_READ": {"record_id": 999, "offset": 0}, "RECORD_ACK": {"record_id": 999},
    "SETUP": {"region": 2, "angle_dd": 0, "session_max_dn": 8000, "tolerance_dn": 50, "phase_count": 1,
              "telemetry_div": 0, "session_id": 1},
    "PHASE": PHASE0, "EDIT_FORCE": {"force_dn": 3500},
    "PROVISION": {"serial": "SIM-0001", "hard_max_dn": 9000, "cervical_max_dn": 2500, "lumbar_max_dn": 9000,
                  "key": bytes(range(1, 33))},
    "JOG": {"speed_pm": -100, "ms": 200},
    "CALIBRATE": {"zero_counts": 1400, "span_counts": 4000000, "span_dn": 10000, "date_s": 1767225600,
                  "nonlin_ppm": 100, "weights": [2000, 5000, 10000]},
}


def host_in(state):
    host = h.Host()
    host.ok("HEARTBEAT", lease_ms=10000)
    if state in (READY, RUNNING, PAUSED, RELEASING):
        host.setup([PHASE0])
    if state in (RUNNING, PAUSED, RELEASING):
        host.heartbeat_every = 100
        host.ok("START")
        host.seconds(3)
    if state == PAUSED:
        host.ok("PAUSE")
    if state == RELEASING:
        host.ok("STOP")
    if state == FAULT:
        host.ok("ESTOP")
    if state == SERVICE:
        host.sim.inject("service_jumper")
        host.ok("SERVICE_ENTER")
    assert host.app.state == state
    return host


def test_state_command_acceptance_table():
    failures = []
    for state in STATES:
        for name, row in TABLE.items():
            host = host_in(state)
            reply = host.cmd(name, **FIELDS.get(name, {}))
            want = row[state]
            if want == A:
                got_ok = reply.name != "NAK"
            else:
                got_ok = reply.name == "NAK" and reply["error"] == ERROR[want]
            if not got_ok:
                failures.append("%s in %s: %r, want %s" % (name, h_state(state), reply, want))
            h.cleanup()
    assert not failures, "\n".join(failures)


def h_state(code):
    for name, c in STATE.items():
        if c == code:
            return name
    return str(code)


def test_commands_move_the_states_spec_names():
    host = host_in(READY)
    assert host.ok("STOP")["state"] == IDLE and host.app.session.count == 0  # STOP cancels a setup
    host = host_in(IDLE)
    host.sim.inject("service_jumper")
    assert host.ok("SERVICE_ENTER")["state"] == SERVICE and not host.board.motor.enabled()
    assert host.ok("SERVICE_EXIT")["state"] == IDLE
    host = host_in(RUNNING)
    assert host.ok("ESTOP")["state"] == FAULT
    assert host.cmd("CLEAR_FAULT")["error"] == ERROR["CAUSE_PRESENT"]  # force not released yet
    assert host.until(lambda: not host.board.motor.enabled(), 20)
    host.seconds(1)
    assert host.ok("CLEAR_FAULT")["state"] == IDLE
    host = host_in(IDLE)
    assert host.cmd("PHASE", **PHASE0)["error"] == ERROR["NO_SETUP"]
    host.ok("SETUP", **dict(FIELDS["SETUP"], phase_count=2))
    host.ok("PHASE", **PHASE0)
    assert host.app.state == IDLE  # one of two phases
    assert host.cmd("START")["error"] == ERROR["NO_SETUP"]
    assert host.ok("PHASE", **dict(PHASE0, index=1))["state"] == READY
    # a finished session's setup is spent: PHASE needs a new SETUP
    host = h.Host()
    host.start([dict(PHASE0, duration_ms=2000, ramp_down_ms=1000)])
    assert host.until(lambda: host.app.state == IDLE, 30)
    assert host.cmd("PHASE", **PHASE0)["error"] == ERROR["NO_SETUP"]
    h.cleanup()


def test_limits_cannot_be_raised_over_the_link():
    host = host_in(IDLE)
    # the session maximum only ever lowers the limit: a phase above the region maximum is refused
    host.ok("SETUP", **dict(FIELDS["SETUP"], region=1, session_max_dn=65535))
    assert host.cmd("PHASE", **dict(PHASE0, force_dn=2501))["error"] == ERROR["OVER_LIMIT"]
    host.ok("PHASE", **dict(PHASE0, force_dn=2500))
    host.sim.inject("service_jumper")
    host.ok("STOP")
    host.ok("SERVICE_ENTER")
    p = dict(FIELDS["PROVISION"])
    assert host.cmd("PROVISION", **dict(p, hard_max_dn=9001))["error"] == ERROR["LIMIT_RAISE"]
    host.ok("PROVISION", **dict(p, lumbar_max_dn=8000, serial="SIM-0002"))
    assert host.cmd("PROVISION", **dict(p, lumbar_max_dn=8001))["error"] == ERROR["LIMIT_RAISE"]
    info = host.ok("HELLO", host_version=2)
    assert info["lumbar_max_dn"] == 8000 and info["serial"] == "SIM-0002"
    # ... and the lowered limit survives a restart
    again = h.Host(cfg=host.cfg)
    assert again.ok("HELLO", host_version=2)["lumbar_max_dn"] == 8000
    h.cleanup()


@hazard("H-21")
def test_calibration_needs_three_weights_and_a_real_span():
    host = host_in(SERVICE)
    cal = FIELDS["CALIBRATE"]
    for bad, error in ((dict(weights=[5000, 10000]), "OUT_OF_RANGE"),  # two points show no bow
                       (dict(span_dn=9000), "OUT_OF_RANGE"),  # the span is not a weight that was hung
                       (dict(span_counts=1000), "NOT_TENSIONED"),  # a span that hardly moves the reading
                       (dict(zero_counts=8388607), "OUT_OF_RANGE")):  # a zero at the ADC's rail
        r = host.cmd("CALIBRATE", **dict(cal, **bad))
        assert r.name == "NAK" and r["error"] == ERROR[error], (bad, r)
    before = host.ok("HELLO", host_version=1)["cal_id"]
    assert before and host.app.settings.cal_weights == []  # the factory calibration, untouched
    host.ok("CALIBRATE", **dict(cal, span_counts=3990000))
    info = host.ok("HELLO", host_version=1)
    assert info["cal_id"] != before and info["cal_points"] == 3 and info["cal_nonlin_ppm"] == 100
    assert info["cal_date_s"] == 1767225600
    assert h.Host(cfg=host.cfg).app.settings.cal_weights == [2000, 5000, 10000]  # kept across a restart
    h.cleanup()


def test_a_retransmitted_command_runs_once():
    host = host_in(READY)
    start = encode("START", 42, {})
    first = host.send_raw(start, re=42)
    assert first.name == "ACK" and first["state"] == RUNNING
    host.step(3)
    again = host.send_raw(start, re=42)
    assert again.fields == first.fields  # the remembered reply, not BAD_STATE from running it again
    edit = encode("EDIT_FORCE", 43, {"force_dn": 3500})
    host.send_raw(edit, re=43)
    host.send_raw(edit, re=43)
    assert host.app.session.edits == 1
    # a new command with the same seq but other content is a new command
    assert host.send_raw(encode("EDIT_FORCE", 43, {"force_dn": 3600}), re=43).name == "ACK"
    assert host.app.session.edits == 2
    # HELLO forgets the remembered command: the old START now runs, and is refused
    host.ok("HELLO", host_version=2)
    assert host.send_raw(start, re=42)["error"] == ERROR["BAD_STATE"]
    h.cleanup()


def test_lease_lapse_releases_with_lease_lost():
    host = h.Host()
    host.ok("HELLO", host_version=2)  # grants 2000 ms
    host.setup([PHASE0])
    host.ok("HELLO", host_version=2)
    host.ok("START")
    host.seconds(1.9)
    assert host.app.state == RUNNING
    host.ok("HEARTBEAT", lease_ms=200)  # clamped to the board's minimum
    assert host.app.lease_ms == host.app.lease_min_ms
    host.seconds(host.app.lease_min_ms / 1000 + 0.05)
    assert host.app.state == FAULT and host.status()["fault"] == 10  # LEASE_LOST
    assert any(e["kind"] == 3 and e["code"] == 10 for e in host.events)
    h.cleanup()


def test_a_lapsed_lease_changes_nothing_when_idle():
    host = host_in(READY)
    host.seconds(15)
    assert host.app.state == READY and host.status()["fault"] == 0
    h.cleanup()


def test_bad_frames_get_the_spec_naks_or_silence():
    host = host_in(IDLE)
    r = host.send_raw(encode_frame(9, 0x7E, b""), re=9)
    assert r.name == "NAK" and r["error"] == ERROR["UNKNOWN_TYPE"]
    r = host.send_raw(encode_frame(10, 0x02, b"\x01"), re=10)
    assert r["error"] == ERROR["BAD_LENGTH"]
    r = host.send_raw(encode_frame(11, 0x02, b"\x01\x00\x00\x00"), re=11)  # lease 1 ms < 200
    assert r["error"] == ERROR["OUT_OF_RANGE"]
    r = host.send_raw(encode_frame(12, 0x0D, b"", version=1), re=12)
    assert r["error"] == ERROR["UNSUPPORTED_VERSION"]
    r = host.send_raw(encode("ACK", 14, {"re": 1, "state": 1}), re=14)  # a board message sent to the board
    assert r.name == "NAK" and r["error"] == ERROR["UNKNOWN_TYPE"]
    bad = bytearray(encode("GET_STATUS", 13, {}))
    bad[2] ^= 0x40
    assert host.send_raw(bytes(bad)) is None  # CRC: silent
    assert host.cmd("GET_STATUS").name == "STATUS"  # and the next frame is fine
    h.cleanup()


def test_status_reports_the_clocks_overruns_and_saturates():
    host = host_in(IDLE)
    host.app.board.clock.overruns = 7
    assert host.cmd("GET_STATUS")["overruns"] == 7
    host.app.board.clock.overruns = 70000
    assert host.cmd("GET_STATUS")["overruns"] == 0xFFFF
    h.cleanup()


def test_telemetry_batches_consecutive_samples_at_the_divided_rate():
    host = h.Host()
    host.start([PHASE0], telemetry_div=5)
    host.seconds(4)
    rows = [r for r in host.telemetry if r[3] == RUNNING]
    assert len(rows) >= 70
    numbers = [r[0] for r in rows]
    assert all(b - a == 5 for a, b in zip(numbers, numbers[1:]))
    assert abs(rows[-1][1] - host.app.force()) < 300 and rows[-1][2] > 0
    h.cleanup()


def test_telemetry_rows_outlast_a_full_events_ring_and_commands_meanwhile():
    """The telemetry ring holds what service() could not send yet (app.TELEMETRY_ROWS says why 64 rows
    do): a whole events ring, sent two a call, and 11 commands, each read in a call and answered in the
    next, all in a row, lose no sample at one per period."""
    host = h.Host()
    host.start([h.phase(mode=1, force_dn=3000, ramp_up_ms=1000, duration_ms=30000)], telemetry_div=1)
    host.seconds(2)  # holding: no events of its own
    app = host.app
    j = app.journal
    assert j.events.count == 0 and app.telemetry.count < 10
    for _ in range(j.events.size):
        j.event(1, RUNNING, 0, 0)
    most = 0
    for i in range(100):
        if i < 11:
            host.board.link.host_write(encode("GET_STATUS", host._next_seq(), {}))
        host.step()
        most = max(most, app.telemetry.count)
    assert app.telemetry.dropped == 0 and j.events.dropped == 0
    assert most >= 2 * 11 + j.events.size // 2, most  # a row a call that sent none
    n = None
    for r in host.telemetry:  # consecutive samples (no list: a board's heap is small)
        assert n is None or r[0] == n + 1, (n, r[0])
        n = r[0]
    assert len(host.telemetry) > 290
    assert len([e for e in host.events if e["kind"] == 1]) >= j.events.size
    h.cleanup()


def test_a_frame_is_read_in_one_call_and_answered_in_the_next_the_next_frame_waits_in_the_port():
    """Bounded work per call (docs/firmware.md, instruction budgets): a call reads up to the end of one
    frame and runs it, the next frames and writes its reply; only then is the next frame read."""
    host = h.Host()
    link = host.board.link
    first = encode("HEARTBEAT", 1, {"lease_ms": 5000})
    rest = encode("GET_STATUS", 2, {}) + encode("RECORD_LIST", 3, {})
    link.host_write(first + rest)
    names = []
    for i in range(6):
        host.app.service()
        host._collect()
        names.append([r.name for r in host.replies])
        del host.replies[:]
        if i == 0:
            assert link._in.count == len(rest), link._in.count  # the first frame's bytes only
    assert names == [[], ["ACK"], [], ["STATUS"], [], ["RECORDS"]], names
    assert link._in.count == 0
    h.cleanup()


def test_events_are_numbered_without_gaps():
    host = host_in(RUNNING)
    host.ok("PAUSE")
    host.ok("RESUME")
    host.ok("ESTOP")
    host.step(6)  # the events two a call, but for the call that writes ESTOP's record row (app.service)
    numbers = [e["event"] for e in host.events]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    kinds = [e["kind"] for e in host.events]
    assert 5 in kinds and 6 in kinds and 3 in kinds  # PAUSE, RESUME, FAULT
    assert [e["code"] for e in host.events if e["kind"] == 1][-1] == FAULT
    h.cleanup()


def test_repl_break_in_when_idle_leaves_the_rest_for_the_repl():
    host = host_in(IDLE)
    host.board.link.host_write(b"\r\x03\r\x01")
    host.step()
    assert host.app.link.repl
    assert host.board.link._in.count == 2  # CR Ctrl-A stay unread for the REPL
    h.cleanup()


def test_repl_break_in_is_ignored_during_a_treatment():
    host = host_in(RUNNING)
    host.board.link.host_write(b"\r\x03\r\x01")
    host.step(3)
    assert not host.app.link.repl and host.app.state == RUNNING
    host.board.link.host_write(b"\x00")  # a host flushes the garbage with a lone delimiter
    assert host.cmd("GET_STATUS")["state"] == RUNNING
    h.cleanup()


def test_record_read_past_the_end_is_empty():
    host = h.Host()
    host.start([dict(PHASE0, duration_ms=3000, ramp_down_ms=1000)])
    assert host.until(lambda: host.app.state == IDLE, 30)
    host.step(5)
    rid = host.records()[0]
    total = len(host.read_record(rid))
    r = host.ok("RECORD_READ", record_id=rid, offset=total + 10)
    assert r["data"] == b"" and r["total"] == total
    h.cleanup()


def test_a_port_that_raises_after_writing_never_repeats_a_frame():
    # As on a bare-metal port whose stdout has no flush(): the frame leaves, then the write raises.
    host = h.Host()
    port = host.board.link
    write = port.write

    def write_then_raise(data):
        write(data)
        raise AttributeError("no flush")

    port.write = write_then_raise
    for _ in range(5):
        host.board.clock.wait_tick()
        host.app.tick()
        try:
            host.app.service()
        except AttributeError:
            pass
        host._collect()
    port.write = write
    host.step(3)
    seqs = [e.seq for e in host.events]
    numbers = [e["event"] for e in host.events]
    assert len(set(seqs)) == len(seqs), seqs
    assert len(set(numbers)) == len(numbers), numbers
    assert host.cmd("GET_STATUS") is not None  # the board still answers
    h.cleanup()


def test_stdio_link_writes_to_a_stream_without_flush():
    from traction_fw.hal.sim.link import StdioLink

    class Uart:  # what sys.stdout.buffer is on a bare-metal port: write() only
        def __init__(self):
            self.data = b""

        def write(self, data):
            self.data += bytes(data)

    link = StdioLink()
    uart = Uart()
    link.attach_output(uart)
    link.write(b"\x00abc\x00")
    assert uart.data == b"\x00abc\x00"


def test_a_jog_runs_the_motor_in_service_only_for_its_time_and_both_ways():
    host = host_in(SERVICE)
    p0 = host.board.motor.position()
    host.ok("JOG", speed_pm=200, ms=500)
    host.step(2)
    assert host.board.motor.enabled()
    assert host.until(lambda: not host.board.motor.enabled(), 5)
    p1 = host.board.motor.position()
    assert p1 - p0 > 400  # 20 % of 8000 counts/s for 0.5 s is 800: winding in counts up
    host.ok("JOG", speed_pm=-200, ms=500)
    host.step(2)
    assert host.board.motor.enabled()
    assert host.until(lambda: not host.board.motor.enabled(), 5)
    assert host.board.motor.position() < p1 - 400
    host.ok("JOG", speed_pm=-200, ms=3000)
    host.step(5)
    host.ok("SERVICE_EXIT")  # leaving SERVICE ends a jog at once
    host.step(2)
    assert not host.board.motor.enabled() and host.app.state == IDLE
    info = host.ok("HELLO", host_version=1)
    assert info["full_speed_counts_s"] == 8000
    h.cleanup()


@hazard("H-16")
def test_the_watchdog_test_starves_the_watchdog_and_the_board_resets():
    from traction_fw.hal.sim.board import BoardReset

    host = host_in(SERVICE)
    host.ok("JOG", speed_pm=-100, ms=1000)
    host.step(2)
    assert host.cmd("WATCHDOG_TEST")["error"] == ERROR["BAD_STATE"]  # not while the motor runs
    assert host.until(lambda: not host.board.motor.enabled(), 5)
    host.board.watchdog.start(1000)
    host.ok("WATCHDOG_TEST")
    try:
        host.seconds(3)
    except BoardReset as e:
        assert e.cause == 1
    else:
        raise AssertionError("the watchdog did not reset the board")
    h.cleanup()
