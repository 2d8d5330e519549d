# Test harness for the firmware application on the simulated board (MicroPython): a fresh board with its
# own file store, and a host that speaks the protocol over the in-memory link and runs the board loop
# (wait_tick, tick, service) between its commands.

import gc
import json
import os

from binascii import hexlify
from traction_fw import hal
from traction_fw.app import App
from traction_protocol import FrameDecoder, decode, encode
from traction_protocol.framing import Frame

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
BOARD_JSON = HERE + "/../boards/sim.json"

_stores = []


def new_store():
    path = "/tmp/tfw-" + hexlify(os.urandom(6)).decode()
    os.mkdir(path)
    _stores.append(path)
    return path


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
    with open(BOARD_JSON) as f:
        cfg = json.load(f)
    cfg["sim"]["free_run"] = True
    cfg["sim"]["link"] = "memory"
    cfg["sim"]["region"] = region
    cfg["sim"]["seed"] = seed
    cfg["store"] = store or new_store()
    for k, v in extra.items():
        cfg[k] = v
    return cfg


class Host:
    """Drives one App on a memory-link sim board."""

    def __init__(self, region="lumbar", cfg=None, **kw):
        self.cfg = cfg or config(region, **kw)
        self.board = hal.load(self.cfg)
        self.app = App(self.board)
        self.sim = self.board.sim
        self.decoder = FrameDecoder()
        self.seq = 0
        self.events = []  # Message objects
        self.telemetry = []  # (sample, force, target, state, phase, segment)
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
                self.events.append(msg)
            elif msg.name == "TELEMETRY":
                f = msg.fields
                step = f["period_us"] // self.board.period_us
                n = f["sample"]
                for force, target in f["samples"]:
                    self.telemetry.append((n, force, target, f["state"], f["phase"], f["segment"]))
                    n += step
            else:
                self.replies.append(msg)

    def send_raw(self, data, max_ticks=5, re=None):
        """Write bytes, run the board until a reply arrives (with that re, if given); return it or None."""
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
        data = b""
        while True:
            r = self.ok("RECORD_READ", record_id=rid, offset=len(data))
            data += r["data"]
            if len(data) >= r["total"]:
                return data

    def key(self):
        return self.app.settings.key


def phase(mode=1, force_dn=1000, base_dn=0, hold_ms=0, rest_ms=0, ramp_up_ms=2000, ramp_down_ms=2000,
          steps=0, repeats=0, duration_ms=10000):
    return {"mode": mode, "force_dn": force_dn, "base_dn": base_dn, "hold_ms": hold_ms, "rest_ms": rest_ms,
            "ramp_up_ms": ramp_up_ms, "ramp_down_ms": ramp_down_ms, "steps": steps, "repeats": repeats,
            "duration_ms": duration_ms}


def cleanup():
    while _stores:
        remove_store(_stores.pop())
