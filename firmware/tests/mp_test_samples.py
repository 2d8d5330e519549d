# Every load-cell conversion reaches the host (issue 11): the hal's sample ring (hal/samples.py), the
# simulated ADC at its own rate, and SAMPLES frames from service() while STREAM is on (link.py).

import fw_harness as h
import micropython
from traction_fw.hal.samples import WRAP_MASK, SampleRing, ring_size
from traction_fw.link import SAMPLES_MAX

from array import array

RUNNING = 3


def sps_config(sps, **kw):
    cfg = h.config(**kw)
    cfg["loadcell"]["sps"] = sps
    return cfg


class Frames:
    """The SAMPLES frames a Host receives, with the gaps between their running numbers: the last KEEP
    frames and the size of each (all of them would fill the emulated board's 140 KB heap)."""

    KEEP = 12

    def __init__(self, host):
        self.frames = []
        self.sizes = []
        self.gaps = 0
        self.items = 0
        self.next = None
        host.on_samples = self.add

    def add(self, f):
        if self.next is not None and f["first"] != self.next:
            self.gaps += (f["first"] - self.next) & WRAP_MASK
        self.next = (f["first"] + len(f["counts"])) & WRAP_MASK
        self.items += len(f["counts"])
        self.sizes.append(len(f["counts"]))
        self.frames.append(f)
        if len(self.frames) > self.KEEP:
            self.frames.pop(0)


# ---- the ring ----

def test_ring_sizes_hold_a_quarter_second():
    assert ring_size(80) == 32 and ring_size(660) == 256 and ring_size(2000) == 512


def test_ring_drains_in_order_with_running_numbers():
    r = SampleRing(32)
    out = array("i", bytes(4 * 10))
    for v in range(-3, 12):
        r.put(v)
    assert r.pending() == 15
    assert r.drain(out) == 10 and list(out) == list(range(-3, 7)) and r.taken == 10
    assert r.pending() == 5
    assert r.drain(out) == 5 and list(out[:5]) == list(range(7, 12)) and r.taken == 15
    assert r.drain(out) == 0 and r.pending() == 0


def test_ring_overwritten_conversions_show_as_a_gap():
    r = SampleRing(32)
    out = array("i", bytes(4 * 40))
    for v in range(100):
        r.put(v)
    assert r.pending() == r.keep == 24
    n = r.drain(out)
    assert n == 24 and list(out[:n]) == list(range(76, 100))
    assert (r.taken - n) & WRAP_MASK == 76  # the first drained: 76 were lost, and its number says so


def test_ring_numbers_wrap_at_2_to_30_without_allocating():
    r = SampleRing(32)
    r.n = r.taken = WRAP_MASK - 2
    out = array("i", bytes(4 * 8))
    micropython.heap_lock()
    try:
        for v in range(6):
            r.put(v)
        n = r.drain(out)
    finally:
        micropython.heap_unlock()
    assert n == 6 and list(out[:6]) == list(range(6)) and r.n == 3 and r.taken == 3


# ---- the simulated ADC ----

def test_sim_converts_at_its_own_rate():
    board = h.hal.load(sps_config(660))
    cell = board.loadcell
    assert cell.sps == 660
    for _ in range(100):  # one second of device time
        board.clock.wait_tick()
        assert cell.ready()
        cell.read()
    assert cell.samples.n == 660
    out = array("i", bytes(4 * 300))
    n = cell.samples.drain(out)
    assert n == cell.samples.keep == 248 and cell.samples.taken == 660
    # no load: each conversion is the zero plus its own noise (0.1 N = 400 counts), not one value repeated
    values = list(out[:n])
    assert all(abs(v - cell.zero) < 4000 for v in values) and len(set(values)) > n // 2
    h.cleanup()


def test_sim_without_sps_converts_once_a_period():
    board = h.hal.load(h.config())
    assert board.loadcell.sps == board.control_hz
    for _ in range(50):
        board.clock.wait_tick()
    assert board.loadcell.samples.n == 50
    h.cleanup()


# ---- SAMPLES on the link ----

def test_no_samples_until_stream_and_none_after_hello():
    host = h.Host(cfg=sps_config(660))
    frames = Frames(host)
    host.seconds(1)
    assert not frames.frames  # an existing host never asked: it never sees one
    host.ok("STREAM", samples=1)
    host.seconds(0.5)
    assert frames.items > 250
    host.cmd("HELLO", host_version=2)
    host.step(2)
    before = frames.items
    host.seconds(0.5)
    assert frames.items == before
    h.cleanup()


def test_a_treatment_streams_every_conversion_batched():
    """660 conversions a second, none lost on a clean link, about 20 frames a second, and each value
    the force TELEMETRY reports, converted with the frame's zero and span."""
    host = h.Host(cfg=sps_config(660))
    app = host.app
    frames = Frames(host)
    # TELEMETRY force_dn of the last 128 control samples, in lists made once (a dict of them grew past
    # what the emulated board's fragmented heap could give it)
    at = [-1] * 128
    forces = [0] * 128

    def telemetry(row):
        at[row[0] % 128] = row[0]
        forces[row[0] % 128] = row[1]

    host.on_telemetry = telemetry
    host.ok("STREAM", samples=1)
    host.start([h.phase(mode=1, force_dn=3000, ramp_up_ms=2000, duration_ms=8000)], telemetry_div=1)
    assert host.until(lambda: app.state == RUNNING and app.session.treatment_ms > 4000, 10)
    first = frames.frames[-1]
    start_n = first["first"]
    start_sample = first["sample"]
    host.seconds(2)
    last = frames.frames[-1]
    items = (last["first"] + len(last["counts"]) - start_n) & WRAP_MASK
    seconds = (last["sample"] - start_sample) / 100
    assert frames.gaps == 0
    assert 640 <= items / seconds <= 680, items / seconds
    sizes = frames.sizes[1:]  # the first drained the backlog
    assert max(sizes) <= SAMPLES_MAX and sum(sizes) / len(sizes) >= 25, sizes
    # a hold at 300 N: every conversion within noise of the loop's own reading, once the TELEMETRY of
    # the last frames' samples is in too (a batch waits up to 25 periods)
    last_ten = frames.frames[-10:]
    host.step(30)
    checked = 0
    for f in last_ten:
        assert f["sps"] == 660 and f["span_counts"] and f["zero_counts"] == app.settings.zero
        assert at[f["sample"] % 128] == f["sample"]
        tele = forces[f["sample"] % 128]
        for c in f["counts"]:
            dn = (c - f["zero_counts"]) * f["span_dn"] / f["span_counts"]
            assert abs(dn - tele) < 15, (dn, tele)
            checked += 1
    assert checked > 250
    h.cleanup()


def test_a_port_without_room_loses_samples_as_a_gap_and_never_waits():
    host = h.Host(cfg=sps_config(660))
    frames = Frames(host)
    host.ok("STREAM", samples=1)
    host.seconds(0.5)
    assert frames.gaps == 0
    link = host.board.link
    room = link.room
    link.room = lambda: 100  # the host stopped reading: the port has no room to spare
    host.seconds(1)
    link.room = room
    before = len(frames.sizes)
    host.seconds(1)
    assert len(frames.sizes) > before
    assert 400 <= frames.gaps <= 660 - 200, frames.gaps  # the second's conversions less what the ring kept
    h.cleanup()


def test_samples_are_served_without_allocating():
    """service() with the heap locked while a treatment streams 660 conversions a second."""
    host = h.Host(cfg=sps_config(660))
    app = host.app
    b = host.board
    frames = Frames(host)
    host.ok("STREAM", samples=1)
    host.start([h.phase(mode=1, force_dn=3000, ramp_up_ms=1000, duration_ms=30000)], telemetry_div=1)
    host.seconds(2)
    sent = frames.items
    for n in range(300):
        b.clock.wait_tick()
        app.locked_tick()
        micropython.heap_lock()
        try:
            app.service()
        finally:
            micropython.heap_unlock()
        host._collect()
        if n % 100 == 99:
            h.gc.collect()
    assert frames.items - sent >= 1900 and frames.gaps == 0
    h.cleanup()
