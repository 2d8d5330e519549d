# Test harness for the firmware application on the simulated board (MicroPython): a fresh board with its
# own file store, and a host that speaks the protocol over the in-memory link and runs the board loop
# (wait_tick, tick, service) between its commands. It runs on the unix port and on the emulated board
# (docs/firmware.md), so it assumes no unix: no os.urandom, no working directory, a 140 KB heap.

import gc
import json
import os
import random
import struct

from binascii import hexlify
from traction_fw import hal
from traction_fw.app import App
from traction_protocol import FrameDecoder, decode, encode
from traction_protocol.framing import Frame

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
BOARD_JSON = HERE + "/../boards/sim.json"
TMP = "/tmp"
TELEMETRY_KEEP = 400  # rows a Host keeps (9.6 kB): 5000 as tuples would fill a board's heap

_stores = []
_hosts = []


def _random_bytes(n):
    if hasattr(os, "urandom"):
        return os.urandom(n)
    return bytes(random.getrandbits(8) for _ in range(n))  # bare-metal ports have no os.urandom


def new_store():
    try:
        os.mkdir(TMP)  # a board's filesystem starts empty
    except OSError:
        pass
    path = TMP + "/tfw-" + hexlify(_random_bytes(6)).decode()
    os.mkdir(path)
    _stores.append(path)
    return path


def board_json():
    """The sim board's config: firmware/boards/sim.json beside the tests, else the one frozen into the
    emulated board's image (where the tests are frozen too and have no folder)."""
    try:
        with open(BOARD_JSON) as f:
            return json.load(f)
    except OSError:
        from image_config import BOARD_JSON as text

        return json.loads(text)


def remove_store(path):
    for sub in ("records", ""):
        d = path + "/" + sub if sub else path
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            try:
                os.remove(d + "/" + name)
            except OSError:
                pass
    for d in (path + "/records", path):
        try:
            os.rmdir(d)
        except OSError:
            pass


def config(region="lumbar", store=None, seed=1, **extra):
    cfg = board_json()
    cfg["sim"]["free_run"] = True
    cfg["sim"]["link"] = "memory"
    cfg["sim"]["channel"] = None
    cfg["sim"]["region"] = region
    cfg["sim"]["seed"] = seed
    cfg["store"] = store or new_store()
    for k, v in extra.items():
        cfg[k] = v
    return cfg


class Host:
    """Drives one App on a memory-link sim board."""

    def __init__(self, region="lumbar", cfg=None, **kw):
        # One board at a time: a new Host lets go of the last one's board (a test may still hold that
        # Host, but two boards crowd a 140 KB heap), and the heap is collected so the new board's buffers
        # find room in one piece.
        _release_hosts()
        self.telemetry = Rows(TELEMETRY_KEEP)  # (sample, force, target, state, phase, segment)
        self.cfg = cfg or config(region, **kw)
        self.board = hal.load(self.cfg)
        self.app = App(self.board)
        _hosts.append(self)
        self.sim = self.board.sim
        self.decoder = FrameDecoder()
        self.seq = 0
        self.events = []  # Event objects
        self.on_telemetry = None  # f(row): each row as it arrives, for checks over a whole session
        self.on_samples = None  # f(fields): each SAMPLES frame's fields (STREAM on); else they are dropped
        self.replies = []
        self.trace = None  # list to collect (device_ms, true force, target, state) per tick
        self.lease_ms = 0
        self.heartbeat_every = 0
        self._since_beat = 0
        self._steps = 0
        self._waiting = False  # a command is outstanding: no heartbeat until its reply (stop-and-wait)

    def step(self, n=1):
        b = self.board
        app = self.app
        for _ in range(n):
            self._steps += 1
            if self._steps % 100 == 0:
                gc.collect()  # this port's list growth can fail on a heap full of the plant's float garbage
            b.clock.wait_tick()
            app.tick()
            app.service()
            self._collect()
            if self.trace is not None:
                self.trace.append((b.sim.device_ms(), b.sim.true_force_dn(), app.target, app.state))
            if self.heartbeat_every and not self._waiting:
                self._since_beat += 1
                if self._since_beat >= self.heartbeat_every:
                    self._since_beat = 0
                    self.board.link.host_write(encode("HEARTBEAT", self._next_seq(), {"lease_ms": 10000}))

    def seconds(self, s):
        self.step(int(s * self.board.control_hz))

    def until(self, cond, max_s=60):
        n = int(max_s * self.board.control_hz)
        for _ in range(n):
            if cond():
                return True
            self.step()
        return cond()

    def _next_seq(self):
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    def _collect(self):
        data = self.board.link.host_read()
        if not data:
            return
        for item in self.decoder.feed(data):
            if not isinstance(item, Frame):
                raise AssertionError("board sent a bad frame: %r" % (item,))
            msg = decode(item)
            if msg.name == "EVENT":
                self.events.append(Event(msg))
            elif msg.name == "SAMPLES":
                if self.on_samples is not None:
                    self.on_samples(msg.fields)
            elif msg.name == "TELEMETRY":
                f = msg.fields
                step = f["period_us"] // self.board.period_us
                n = f["sample"]
                for force, target in f["samples"]:
                    self.telemetry.append6(n, force, target, f["state"], f["phase"], f["segment"])
                    if self.on_telemetry is not None:
                        self.on_telemetry((n, force, target, f["state"], f["phase"], f["segment"]))
                    n += step
            else:
                self.replies.append(msg)

    def send_raw(self, data, max_ticks=10, re=None):
        """Write bytes, run the board until a reply arrives (with that re, if given); return it or None.
        Ten periods by default: the 100 ms a host waits before its first retransmission (SPEC 6). A frame
        is read and run in one service() call and answered in the next, and a busy record takes every other
        call."""
        if len(self.replies) > 16:
            del self.replies[:-16]  # what a test looks at is the reply it waits for
        before = len(self.replies)
        self.board.link.host_write(data)
        self._waiting = True
        try:
            for _ in range(max_ticks):
                self.step()
                for r in self.replies[before:]:
                    if re is None or r["re"] == re:
                        return r
        finally:
            self._waiting = False
        return None

    def cmd(self, name, **fields):
        seq = self._next_seq()
        reply = self.send_raw(encode(name, seq, fields), re=seq)
        assert reply is not None, "no reply to " + name
        return reply

    def ok(self, name, **fields):
        reply = self.cmd(name, **fields)
        assert reply.name != "NAK", "%s refused: %r" % (name, reply.fields)
        return reply

    def status(self):
        return self.cmd("GET_STATUS")

    def state(self):
        return self.app.state

    def setup(self, phases, region=2, session_max=9000, tolerance=50, telemetry_div=0, session_id=7,
              angle_dd=0):
        self.ok("HEARTBEAT", lease_ms=10000)
        self.ok("SETUP", region=region, angle_dd=angle_dd, session_max_dn=session_max, tolerance_dn=tolerance,
                phase_count=len(phases), telemetry_div=telemetry_div, session_id=session_id)
        for i, p in enumerate(phases):
            p = dict(p)
            p.pop("index", None)
            f = phase(**p)
            f["index"] = i
            self.ok("PHASE", **f)

    def start(self, phases, beat=True, **kw):
        self.setup(phases, **kw)
        if beat:
            self.heartbeat_every = self.board.control_hz  # one a second of device time
        return self.ok("START")

    def records(self):
        return self.cmd("RECORD_LIST")["record_ids"]

    def read_record(self, rid):
        """The record's bytes, in one bytearray allocated once its size is known, right after a collection:
        bytes grown or joined chunk by chunk need a second block that size, which a board's heap,
        fragmented by a session, may not have."""
        buf = None
        got = 0
        while buf is None or got < len(buf):
            r = self.ok("RECORD_READ", record_id=rid, offset=got)
            if buf is None:
                gc.collect()
                buf = bytearray(r["total"])
            data = r["data"]
            buf[got:got + len(data)] = data
            got += len(data)
        return buf

    def key(self):
        return self.app.settings.key


class Event:
    """An EVENT as the host received it, without the Message's dict (a session's worth crowds a board's
    heap): e.seq, e["event"], e["ms"], e["kind"], e["code"], e["value"]."""

    __slots__ = ("seq", "values")
    KEYS = ("event", "ms", "kind", "code", "value")

    def __init__(self, msg):
        self.seq = msg.seq
        f = msg.fields
        self.values = tuple(f[k] for k in self.KEYS)

    def __getitem__(self, key):
        return self.values[self.KEYS.index(key)]


class Rows:
    """Rows of six ints packed in one buffer allocated up front (a list grown row by row needs ever larger
    blocks a board's heap does not have); the first `keep` rows are kept. len()
    counts every row; reading them once some were dropped raises, so a test never looks at part of what
    it asked for."""

    FORMAT = "<6i"
    SIZE = 24

    def __init__(self, keep):
        self.keep = keep
        self.buf = bytearray(keep * self.SIZE)  # with the board, while the heap is still in one piece
        self.count = 0

    def append6(self, a, b, c, d, e, f):
        if self.count < self.keep:
            struct.pack_into(self.FORMAT, self.buf, self.count * self.SIZE, a, b, c, d, e, f)
        self.count += 1

    def __len__(self):
        return self.count

    def __iter__(self):
        if self.count > self.keep:
            raise AssertionError("only the first %d of %d telemetry rows were kept" % (self.keep, self.count))
        for i in range(self.count):
            yield struct.unpack_from(self.FORMAT, self.buf, i * self.SIZE)

    def __getitem__(self, i):
        return list(self)[i]


def phase(mode=1, force_dn=1000, base_dn=0, hold_ms=0, rest_ms=0, ramp_up_ms=2000, ramp_down_ms=2000,
          steps=0, repeats=0, duration_ms=10000):
    return {"mode": mode, "force_dn": force_dn, "base_dn": base_dn, "hold_ms": hold_ms, "rest_ms": rest_ms,
            "ramp_up_ms": ramp_up_ms, "ramp_down_ms": ramp_down_ms, "steps": steps, "repeats": repeats,
            "duration_ms": duration_ms}


def _release_hosts():
    while _hosts:
        host = _hosts.pop()
        if host.board is not None:
            host.board.link.release()
        host.board = host.app = host.sim = host.telemetry = None
        host.events = []
        host.replies = []
    gc.collect()


def cleanup():
    """The end of a test: its boards' stores removed and its hosts' boards let go of."""
    _release_hosts()
    while _stores:
        remove_store(_stores.pop())
