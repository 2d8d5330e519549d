"""A connected traction board: handshake, lease, status, and the records it holds.

    with Device.open("/dev/ttyACM0") as dev:      # or "socket://host:port", "rfc2217://...", "sim"
        print(dev.info.serial, dev.status().state)
"""

import json
import logging
import os
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from traction_protocol import BY_NAME, VERSION
from traction_protocol.constants import (
    FAULT_NAME,
    FLAG_CALIBRATED,
    FLAG_MOTOR_ENABLED,
    FLAG_RECORD_PENDING,
    FLAG_SERVICE_JUMPER,
    FLAG_STOP_SWITCH,
    MODE_NAME,
    SEGMENT_NAME,
    STATE_NAME,
)

from traction.errors import BadReply, NakError, ProtocolVersionError, TractionError
from traction.link import Link
from traction.record import Record, RecordError, verify
from traction.store import Store
from traction.transport import local_device, open_port
from traction.units import from_dn

log = logging.getLogger(__name__)

HEARTBEAT_MIN_MS, HEARTBEAT_MAX_MS = BY_NAME["HEARTBEAT"].fields[0][2:4]  # lease_ms range, SPEC section 4
HEARTBEATS_PER_LEASE = 4
LEASE_MIN_WALL_MS = 1000  # SPEC 6: the host asks for at least 1 s of wall time, whatever the time scale
RECONNECT_S = 0.5  # wall seconds between attempts to open a port that went away
RECORD_MAX_BYTES = 4 * 1024 * 1024  # a board claiming more is not believed
CLEAR_BELOW_N = 5.0  # SPEC 7: CLEAR_FAULT needs the measured force below this
ZERO_DRIFT_CLEAR_N = 20.0  # ... or, for ZERO_DRIFT, within the TARE window (20 N by default)


@dataclass(frozen=True)
class Info:
    """What the board says about itself at HELLO, in SI units."""

    serial: str
    firmware: str
    protocol: int
    sim: bool
    time_scale: int
    control_hz: int
    hard_max_n: float
    cervical_max_n: float
    lumbar_max_n: float
    modes: tuple
    calibrated: bool
    cal_date: datetime | None
    lease_min_ms: int
    lease_max_ms: int
    state: str
    cal_id: int = 0  # names the calibration in force (INFO, SPEC section 10)
    cal_points: int = 0
    cal_nonlin_ppm: int = 0
    security: int = 0  # SECURITY_* bits
    full_speed_counts_s: int = 0  # encoder counts per second at full motor speed (0: no encoder)
    reset_cause: int = 0  # 1: the firmware started after the watchdog or another unexpected reset

    @classmethod
    def from_message(cls, m):
        """From a HELLO reply's fields; BadReply for an impossible lease range."""
        if m["lease_min_ms"] > m["lease_max_ms"]:
            raise BadReply(f"board reports an empty lease range {m['lease_min_ms']}..{m['lease_max_ms']} ms")
        return cls(serial=m["serial"], firmware=f"{m['fw_major']}.{m['fw_minor']}.{m['fw_patch']}",
                   protocol=m["protocol"], sim=bool(m["kind"]), time_scale=m["time_scale"],
                   control_hz=m["control_hz"], hard_max_n=from_dn(m["hard_max_dn"]),
                   cervical_max_n=from_dn(m["cervical_max_dn"]), lumbar_max_n=from_dn(m["lumbar_max_dn"]),
                   modes=tuple(n for code, n in sorted(MODE_NAME.items()) if m["modes"] & (1 << (code - 1))),
                   calibrated=bool(m["calibrated"]),
                   cal_date=datetime.fromtimestamp(m["cal_date_s"], UTC) if m["cal_date_s"] else None,
                   lease_min_ms=m["lease_min_ms"], lease_max_ms=m["lease_max_ms"],
                   state=STATE_NAME[m["state"]], cal_id=m["cal_id"], cal_points=m["cal_points"],
                   cal_nonlin_ppm=m["cal_nonlin_ppm"], security=m["security"],
                   full_speed_counts_s=m["full_speed_counts_s"], reset_cause=m["reset_cause"])

    def region_max_n(self, region: str) -> float:
        """The provisioned maximum for a region ("cervical" or "lumbar"), never above the device's."""
        region_max = self.cervical_max_n if region.lower() == "cervical" else self.lumbar_max_n
        return min(self.hard_max_n, region_max)


@dataclass(frozen=True)
class Status:
    """The board's state and its running session's progress (GET_STATUS), in SI units; segment is one of
    the names in docs/integrators.md."""
    state: str
    fault: str | None
    phase: int
    segment: str
    target_n: float
    force_n: float
    treatment_s: float
    traction_s: float
    remaining_s: float
    stop_switch: bool
    calibrated: bool
    motor_enabled: bool
    record_pending: bool
    service_jumper: bool
    overruns: int  # control loops since boot that ended after the next period began (65535 at most)

    @classmethod
    def from_message(cls, m):
        """From a STATUS reply's fields."""
        flags = m["flags"]
        fault = FAULT_NAME.get(m["fault"], str(m["fault"])) if m["fault"] else None
        return cls(state=STATE_NAME[m["state"]], fault=fault,
                   phase=m["phase"], segment=SEGMENT_NAME.get(m["segment"], str(m["segment"])),
                   target_n=from_dn(m["target_dn"]), force_n=from_dn(m["force_dn"]),
                   treatment_s=m["treatment_ms"] / 1000, traction_s=m["traction_ms"] / 1000,
                   remaining_s=m["remaining_ms"] / 1000, stop_switch=bool(flags & FLAG_STOP_SWITCH),
                   calibrated=bool(flags & FLAG_CALIBRATED), motor_enabled=bool(flags & FLAG_MOTOR_ENABLED),
                   record_pending=bool(flags & FLAG_RECORD_PENDING),
                   service_jumper=bool(flags & FLAG_SERVICE_JUMPER), overruns=m["overruns"])


@dataclass(frozen=True)
class Fetched:
    """One record taken from the board: stored always, verified and acknowledged when the key checks."""

    row: int  # its id in the store
    record_id: int
    record: Record | None
    error: str | None
    acked: bool


class Device:
    """Use Device.open(); the constructor takes an already open Link."""

    def __init__(self, link: Link, info: Info, store: Store, key: bytes | None, board=None, own_store=False,
                 lease_ms: int | None = None, port: str | None = None):
        self.link = link
        self.info = info
        self.store = store
        self.key = key
        self.board = board  # the VirtualBoard this Device started, if any
        self.port = port  # what to open again when the port goes away
        self.picked_up: list[Fetched] = []  # records found on the board at open
        self.reconnects = 0
        self._own_store = own_store
        self.lease_asked_ms, self.lease_ms = _lease(info, lease_ms)
        self.lease_wall_s = self.lease_ms / 1000 / info.time_scale
        # SPEC 6 asks for a heartbeat every third of the lease at least; a quarter leaves room for one
        # lost heartbeat and its retransmissions, which fit_lease keeps inside the lease.
        self.heartbeat_s = self.lease_wall_s / HEARTBEATS_PER_LEASE
        link.fit_lease(self.lease_wall_s)
        self._closed = threading.Event()
        self._heartbeat = threading.Thread(target=self._heartbeat_loop, name="traction-heartbeat",
                                           daemon=True)

    @classmethod
    def open(cls, port: str, store: "Store | str | os.PathLike[str] | None" = None, key: bytes | None = None,
             lease_ms: int | None = None, fetch: bool = True, sim_options: dict | None = None) -> "Device":
        """Connect, handshake, set the board's clock, keep the lease, and pick up records left on the board.

        port: a device path, a pyserial URL, or "sim" to start a VirtualBoard (sim_options go to it).
        store: a Store, a path, or None for the default store. key: the device key when the store has none.
        """
        board = None
        if port == "sim":
            from traction.virtual_board import VirtualBoard

            board = VirtualBoard(**(sim_options or {})).start()
            assert board.port is not None  # a started board has its pty
            port = board.port
        own_store = not isinstance(store, Store)
        link = None
        try:
            link = _connect(port)
            info = handshake(link)
            store = store if isinstance(store, Store) else Store(store)
            if board is not None:
                store.set_key(info.serial, board.key)
            key = key or store.key_for(info.serial)
            device = cls(link, info, store, key, board=board, own_store=own_store, lease_ms=lease_ms,
                         port=port)
            # HELLO's lease is only 2 s of device time: ask for ours before anything else.
            device.command("HEARTBEAT", lease_ms=device.lease_asked_ms)
            device.set_time()
            device._heartbeat.start()
            if fetch:
                device.picked_up = device.fetch_records()
            return device
        except BaseException as e:
            if link is not None:
                link.close()
            if board is not None:
                # A board that did not answer because its interpreter will not run: say that, not "check
                # the cable" (there is none).
                failure = board.silence_reason() if isinstance(e, TractionError) else None
                board.close()
                if failure is not None:
                    raise failure from e
            raise

    # ---- commands ----
    def command(self, name: str, **fields):
        """Send any command (SPEC section 4) and return the reply Message; NakError if refused."""
        self._check_open()
        return self.link.request(name, fields)

    def status(self) -> Status:
        """The board's Status now (GET_STATUS)."""
        return Status.from_message(self.command("GET_STATUS"))

    def set_time(self, utc_s: int | None = None):
        """Set the board's UTC clock (default: this host's), which dates its records."""
        self.command("SET_TIME", utc_s=int(time.time()) if utc_s is None else utc_s)

    def clear_fault(self) -> str:
        """CLEAR_FAULT; refused with CAUSE_PRESENT, the NakError says which cause the board's status shows."""
        try:
            return STATE_NAME[self.command("CLEAR_FAULT")["state"]]
        except NakError as e:
            if e.error != "CAUSE_PRESENT":
                raise
            try:
                status = self.status()
            except TractionError:
                raise e from None
            raise NakError(e.command, e.error, e.state, fix=cause_present_fix(status)) from None

    def tare(self) -> str:
        """Zero the load cell (TARE; no force on the line); the new state."""
        return STATE_NAME[self.command("TARE")["state"]]

    def stop(self) -> str:
        """A gentle stop (STOP): the board releases gradually and seals the record; the new state."""
        return STATE_NAME[self.command("STOP")["state"]]

    def estop(self) -> str:
        """An emergency stop (ESTOP): latches fault ESTOP; the new state."""
        return STATE_NAME[self.command("ESTOP")["state"]]

    def add_listener(self, fn):
        """fn(Message) for every TELEMETRY, EVENT and SAMPLES, called on the reader thread."""
        self.link.add_listener(fn)

    def remove_listener(self, fn):
        """Stop calling fn (added with add_listener)."""
        self.link.remove_listener(fn)

    @property
    def lost(self) -> str | None:
        """Why the link is down (the port went away), or None while it is up."""
        return self.link.lost

    def lease_left_s(self) -> float:
        """Wall seconds, at most, before the board's lease runs out if nothing more reaches it: it renewed
        the lease before its last reply."""
        return max(0.0, self.lease_wall_s - (time.monotonic() - self.link.replied_at))

    def outage(self, why) -> str:
        """What a person needs to know when the board stops answering during a treatment."""
        return (f"lost the board on {self.port} ({why}). If it is still pulling, it releases the force in a "
                f"controlled way when its lease runs out, in at most {self.lease_left_s():.1f} s "
                "(fault LEASE_LOST), and keeps the session's record; reconnecting to fetch it")

    # ---- records ----
    def fetch_records(self) -> list[Fetched]:
        """Read every record the board holds; store each; acknowledge those that verify with the key."""
        ids = self.command("RECORD_LIST")["record_ids"]
        return [self.fetch_record(record_id) for record_id in ids]

    def fetch_record(self, record_id: int) -> Fetched:
        """Read one record, store it, and acknowledge it when it verifies with the key."""
        data = self.read_record(record_id)
        record, error = None, None
        if self.key is None:
            error = (f"no device key for {self.info.serial} in the store {self.store.path}: "
                     "the record is kept unverified and left on the board")
        else:
            try:
                record = verify(data, self.key)
            except RecordError as e:
                error = str(e)
        if error:
            log.warning("record %d: %s", record_id, error)
        # An unverified record is filed under the session its head claims (not trusted: shown UNVERIFIED),
        # so the session lists its record; verifying it later (with the key) confirms or corrects that.
        session_id = record.session_id if record else _claimed_session_id(data)
        row = self.store.save_record(self.info.serial, record_id, data, verified=record is not None,
                                     error=error, session_id=session_id)
        acked = False
        if record is None and session_id is not None:
            session = self.store.session_for(self.info.serial, session_id)
            if session is not None:
                self.store.attach_unverified(session, row)
        if record is not None:
            self._attach(record, row)
            self.command("RECORD_ACK", record_id=record_id)  # only now that it is stored and verified
            self.store.mark_acked(row)
            acked = True
        return Fetched(row, record_id, record, error, acked)

    def read_record(self, record_id: int) -> bytes:
        """A record's raw bytes, chunk by chunk (SPEC section 9.1), checking every chunk. A read has no
        side effect, so each chunk is retried patiently: a noisy line still delivers the record."""
        data = bytearray()
        total = None
        while total is None or len(data) < total:
            self._check_open()
            chunk = self.link.request("RECORD_READ", {"record_id": record_id, "offset": len(data)},
                                      patient=True)
            if chunk["record_id"] != record_id or chunk["offset"] != len(data):
                raise BadReply(f"board sent record {chunk['record_id']} at {chunk['offset']} "
                               f"for record {record_id} at {len(data)}")
            if total is None:
                total = chunk["total"]
                if total > RECORD_MAX_BYTES:
                    raise BadReply(f"board claims record {record_id} has {total} bytes "
                                   f"(at most {RECORD_MAX_BYTES})")
            elif chunk["total"] != total:
                raise BadReply(f"record {record_id} changed size while read ({total} -> {chunk['total']})")
            if not chunk["data"] and len(data) < total:
                raise BadReply(f"board sent no data for record {record_id} at {len(data)} of {total} bytes")
            data.extend(chunk["data"])
        if len(data) != total:
            raise BadReply(f"record {record_id}: received {len(data)} bytes, board said {total}")
        return bytes(data)

    def _attach(self, record: Record, row: int):
        session = self.store.session_for(self.info.serial, record.session_id)
        if session is not None:
            self.store.end_session(session, record.end["reason"], row)

    # ---- lease ----
    def _heartbeat_loop(self):
        """Keep the lease while the device is open, whatever happens: a board that does not answer is
        asked again, a port that went away is opened again (the board may be releasing meanwhile)."""
        while not self._closed.wait(RECONNECT_S if self.link.lost else self.heartbeat_s):
            try:
                if self.link.lost:
                    self._reconnect()
                self.link.request("HEARTBEAT", {"lease_ms": self.lease_asked_ms})
            except TractionError as e:
                log.warning("heartbeat: %s", e)

    def _reconnect(self):
        """Open the port again and take the lease back; the listeners move to the new link. No HELLO: it
        would cut a treating board's lease to 2 s of device time (SPEC 6), a few ms of wall time on a
        fast virtual board; a HEARTBEAT renews it at once (a board that took another board's place is
        caught by its records, which the device key does not verify)."""
        old = self.link
        link = _connect(self.port)
        try:
            link.fit_lease(self.lease_wall_s)
            link.request("HEARTBEAT", {"lease_ms": self.lease_asked_ms})
        except BaseException:
            link.close()
            raise
        if self._closed.is_set():  # closed while this took: the new link has no owner
            link.close()
            return
        for fn in list(old._listeners):
            link.add_listener(fn)
        old.close()
        self.link = link
        self.reconnects += 1
        log.warning("reconnected to board %s on %s", self.info.serial, self.port)

    def _check_open(self):
        if self._closed.is_set():
            raise TractionError("the device is closed: open it again with Device.open()")

    # ---- lifetime ----
    def close(self):
        """Stop keeping the lease, close the link, the store it opened and the virtual board it started."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._heartbeat.is_alive():
            self._heartbeat.join(timeout=2.0)
        self.link.close()
        if self.board is not None:
            self.board.close()
        if self._own_store:
            self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def handshake(link: Link) -> Info:
    """HELLO -> INFO, with the protocol version checked."""
    reply = link.request("HELLO", {"host_version": VERSION})
    info = Info.from_message(reply.fields)
    if info.protocol != VERSION:
        raise ProtocolVersionError(f"board {info.serial} speaks protocol version {info.protocol}, this SDK "
                                   f"speaks {VERSION}: update the firmware or the SDK so they match")
    return info


def _claimed_session_id(data: bytes) -> int | None:
    """The session id a record's head line claims, unverified; None when it cannot be read."""
    try:
        head = json.loads(data.split(b"\n", 1)[0])
    except ValueError:
        return None
    value = head.get("session_id") if isinstance(head, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def cause_present_fix(status: Status) -> str:
    """What keeps a fault from clearing (SPEC 7, CLEAR_FAULT), read from the board's status."""
    causes = []
    if status.stop_switch:
        causes.append("the patient stop switch is still pressed: release it")
    if status.motor_enabled:
        causes.append("the board is still releasing the force: wait for it to end")
    limit = ZERO_DRIFT_CLEAR_N if status.fault == "ZERO_DRIFT" else CLEAR_BELOW_N
    if abs(status.force_n) >= limit:
        causes.append(f"the line reads {status.force_n:.1f} N and must read within {limit:g} N of zero "
                      f"to clear {status.fault or 'the fault'}: unload it; if nothing pulls on it the "
                      "reading is off zero, and as TARE is refused in FAULT, reset the board and tare it "
                      "in IDLE (traction info --port PORT --tare)")
    if not causes:
        causes.append(f"the cause of {status.fault or 'the fault'} is still present although the line "
                      f"reads {status.force_n:.1f} N, the stop switch is released and the release is over: "
                      "check the load cell and its cable")
    return "; ".join(causes) + ", then clear"


def _connect(port) -> Link:
    return Link(open_port(port), name=f"board on {port}", device=local_device(str(port)))


def _lease(info: Info, wanted: int | None) -> tuple[int, int]:
    """(asked, granted) in device ms: what HEARTBEAT asks for, within its wire range, and what the board
    grants by clamping that to its [lease_min_ms, lease_max_ms] (SPEC 6). The host wants the longest
    lease unless told otherwise, and never under LEASE_MIN_WALL_MS of wall time: a virtual board whose
    clock runs fast raises its lease_min_ms so that a request within the wire range gets that."""
    want = max(wanted or info.lease_max_ms, LEASE_MIN_WALL_MS * info.time_scale)
    asked = max(HEARTBEAT_MIN_MS, min(HEARTBEAT_MAX_MS, want))
    return asked, max(info.lease_min_ms, min(info.lease_max_ms, asked))


def new_session_id() -> int:
    """A random 32-bit session number, as the host gives each session."""
    return random.getrandbits(32)
