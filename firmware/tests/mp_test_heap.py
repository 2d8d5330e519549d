# The control tick allocates nothing: app.tick() runs under micropython.heap_lock() (any allocation raises
# MemoryError) through every state and every segment a treatment has, with telemetry on, pauses, edits,
# stops and fault releases. wait_tick() and service() run outside the lock, as on the board. service()
# runs locked too through a healthy treatment and while a record is read back.

import fw_harness as h
import micropython
from traction_fw import profile, record

IDLE, READY, RUNNING, PAUSED, RELEASING, FAULT, SERVICE = 1, 2, 3, 4, 5, 6, 7


class LockedHost(h.Host):
    def __init__(self, *args, **kw):
        h.Host.__init__(self, *args, **kw)
        self.seen = set()
        self.locked_ticks = 0

    def step(self, n=1):
        b = self.board
        app = self.app
        for _ in range(n):
            b.clock.wait_tick()
            micropython.heap_lock()
            try:
                app.tick()
            finally:
                micropython.heap_unlock()
            self.locked_ticks += 1
            self.seen.add((app.state, app.segment()))
            app.service()
            self._collect()
            self._steps += 1
            if self._steps % 100 == 0:
                h.gc.collect()
            if self.heartbeat_every and not self._waiting and self._steps % self.heartbeat_every == 0:
                b.link.host_write(h.encode("HEARTBEAT", self._next_seq(), {"lease_ms": 10000}))


def test_every_phase_and_segment_ticks_without_allocating():
    host = LockedHost()
    host.seconds(1)  # IDLE
    phases = [
        h.phase(mode=2, force_dn=3000, base_dn=1000, hold_ms=2000, rest_ms=1500, ramp_up_ms=2000,
                ramp_down_ms=1000, duration_ms=13000),
        h.phase(mode=4, force_dn=4000, base_dn=2000, steps=2, ramp_up_ms=1000, duration_ms=6000),
        h.phase(mode=5, force_dn=4000, base_dn=2000, steps=2, ramp_up_ms=1000, ramp_down_ms=1000,
                duration_ms=6000),
        h.phase(mode=3, force_dn=2500, base_dn=1500, hold_ms=1000, rest_ms=1000, ramp_up_ms=1000,
                ramp_down_ms=1000, repeats=2, duration_ms=8000),
        h.phase(mode=1, force_dn=3000, ramp_up_ms=1000, ramp_down_ms=2000, duration_ms=3000),
    ]
    host.setup(phases, telemetry_div=1)
    host.seconds(0.5)  # READY
    host.heartbeat_every = 100
    host.ok("START")
    host.seconds(4)
    host.ok("PAUSE")
    host.seconds(2)
    host.ok("EDIT_FORCE", force_dn=3300)
    host.ok("RESUME")
    assert host.until(lambda: host.app.state == IDLE, 60)  # every phase, then the final release
    host.step(20)
    # a stop, then faults with each kind of release: controlled, fast, blind, cut; and the second force
    # channel's own: the current disagreeing, a runaway seen by the encoder, a dead current sense
    for fault in (None, "stop_switch", "loadcell_stale", "motor_stalled", "loadcell_gain", "motor_runaway",
                  "current_sense_fail"):
        host.setup([h.phase(mode=1, force_dn=3000, ramp_up_ms=2000, duration_ms=60000)], telemetry_div=1)
        host.ok("START")
        host.seconds(4)
        if fault is None:
            host.ok("STOP")
            assert host.until(lambda: host.app.state == IDLE, 30)
            continue
        host.sim.inject(fault)
        assert host.until(lambda: host.app.state == FAULT and not host.board.motor.enabled(), 30)
        host.seconds(1)
        host.sim.clear(fault) if fault != "stop_switch" else host.sim.inject(fault, pressed=False)
        assert host.until(lambda: abs(host.app.force()) < 40, 30)
        host.seconds(1)
        host.ok("CLEAR_FAULT")
    host.sim.inject("service_jumper")
    host.ok("SERVICE_ENTER")
    host.seconds(0.5)
    host.ok("SERVICE_EXIT")
    segments = set(seg for st, seg in host.seen if st == RUNNING)
    for seg in (profile.RAMP_UP, profile.HOLD, profile.RAMP_DOWN, profile.REST, profile.STEP):
        assert seg in segments, "segment %d never ticked" % seg
    for st in (IDLE, READY, RUNNING, PAUSED, RELEASING, FAULT, SERVICE):
        assert st in set(s for s, _ in host.seen), "state %d never ticked" % st
    assert (FAULT, profile.RELEASE) in host.seen and (RELEASING, profile.RELEASE) in host.seen
    assert host.locked_ticks > 8000 and len(host.telemetry) > 5000
    h.cleanup()


def _service(app, locked):
    """app.service(), with the heap locked if locked."""
    if not locked:
        app.service()
        return
    micropython.heap_lock()
    try:
        app.service()
    finally:
        micropython.heap_unlock()


def test_a_healthy_treatment_is_served_without_allocating():
    """service() with the heap locked through a whole treatment and its release: the heartbeat and
    GET_STATUS every second and their replies, TELEMETRY every period, the EVENTs, and the record's holds,
    phase and CHECKPOINT as rows into the spool (in memory, as on the emulated board). Only the call that
    seals the record (its lines made from the rows, one file append) runs unlocked."""
    import uctypes

    region = bytearray(8192)
    cfg = h.config()
    cfg["sim"]["spool"] = {"address": uctypes.addressof(region), "size": len(region)}
    host = h.Host(cfg=cfg)
    host.telemetry.keep = 0
    b = host.board
    app = host.app
    rec = app.recorder
    host.setup([h.phase(mode=2, force_dn=5000, base_dn=2000, hold_ms=4000, rest_ms=2000, ramp_up_ms=3000,
                        ramp_down_ms=2000, duration_ms=40000)], region=2, telemetry_div=1)
    host.ok("START")
    del host.replies[:]
    replies = {}
    events = 0
    unlocked = 0
    sealed = 0
    n = 0
    while app.state != IDLE or rec.open:
        assert n < 6000, "the treatment did not end"
        b.clock.wait_tick()
        if n % 100 == 0:
            b.link.host_write(h.encode("HEARTBEAT", host._next_seq(), {"lease_ms": 10000}))
        elif n % 100 == 50:
            b.link.host_write(h.encode("GET_STATUS", host._next_seq(), {}))
        app.locked_tick()
        pending = rec.seal_pending
        if pending:
            unlocked += 1
        _service(app, locked=not pending)
        if pending and not rec.seal_pending:
            sealed += 1
        host._collect()
        for r in host.replies:
            replies[r.name] = replies.get(r.name, 0) + 1
        del host.replies[:]
        events += len(host.events)
        del host.events[:]
        n += 1
        if n % 100 == 0:
            h.gc.collect()  # the plant's float garbage (wait_tick), not the firmware's
    assert replies == {"ACK": (n + 99) // 100, "STATUS": (n + 49) // 100}, (n, replies)
    assert len(host.telemetry) > 4000 and events >= 3  # RELEASING, IDLE, RECORD at least
    # one call seals; the call before it may have been the link's (app.service: one job a call)
    assert sealed == 1 and unlocked <= 2, (sealed, unlocked)
    kinds = [h.json.loads(x)["t"] for x in record.split_lines(host.read_record(host.records()[-1]))]
    assert kinds.count("hold") == 4 and kinds.count("ev") == 1 and kinds[-3:] == ["phase", "end", "seal"]
    h.cleanup()


def test_a_record_is_read_back_without_allocating():
    """RECORD_READ answered with the heap locked, chunk after chunk, a HEARTBEAT between two of them: the
    chunk is read from the file into the frame and packed in place. Unlocked: the first read, which opens
    the file (the file object, kept open for the next chunks), and the last, shorter than the others,
    whose frame size has no view made at boot (16 bytes once a record)."""
    host = h.Host()
    b = host.board
    app = host.app
    host.start([h.phase(mode=1, force_dn=3000, ramp_up_ms=1000, ramp_down_ms=1000, duration_ms=3000)])
    assert host.until(lambda: app.state == IDLE and not app.recorder.open, 30)
    rid = app.recorder.listed[-1]
    with open(record.path_of(app.recorder.store.root, rid), "rb") as f:
        want = f.read()
    assert len(want) > 600
    host.step(2)
    del host.replies[:]
    h.gc.collect()
    got = bytearray(len(want))
    at = 0
    first = True
    while at < len(want):
        b.link.host_write(h.encode("RECORD_READ", host._next_seq(), {"record_id": rid, "offset": at}))
        if at == 400:
            b.link.host_write(h.encode("HEARTBEAT", host._next_seq(), {"lease_ms": 10000}))
        last = len(want) - at < 200
        for _ in range(4):  # one frame read a call, answered in the next
            _service(app, locked=not (first or last))
        first = False
        host._collect()
        for r in host.replies:
            if r.name == "RECORD_CHUNK":
                data = r["data"]
                got[at:at + len(data)] = data
                at += len(data)
            else:
                assert r.name == "ACK", r
        del host.replies[:]
    assert got == want
    h.cleanup()
