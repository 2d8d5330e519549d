"""One treatment on a connected board: set up, start, steer, and at the end the signed record.

    session = Session(device, Treatment.load("examples/cervical_intermittent.toml"))
    session.start()
    for sample in session.telemetry():      # or Session(..., on_telemetry=fn)
        print(sample.t_s, sample.force_n, sample.target_n)
    record = session.wait()                 # fetched, verified with the device key, stored, acknowledged

With adc_samples=True the session also asks the board for every load-cell conversion at the ADC's own
rate (SAMPLES frames): `session.adc` keeps them (traction.adc.AdcStream), on_adc_samples gets each batch.

Telemetry and events go to the store's queue as they arrive (on the link's reader thread). A board that
stops answering does not end the session: the device keeps trying to reconnect, `outage` says what the
board does meanwhile, and the record is fetched once the board answers again.
"""

import logging
import math
import numbers
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from traction_protocol.constants import EVENT_NAME, FAULT_NAME, SEGMENT_NAME, STATE, STATE_NAME

from traction.adc import AdcBatch, AdcStream
from traction.device import Device, new_session_id
from traction.errors import BoardUnreachable, ForceError, TractionError
from traction.record import Record
from traction.treatment import Treatment
from traction.units import format_force, from_dn, to_dn

log = logging.getLogger(__name__)

ACTIVE = ("READY", "RUNNING", "PAUSED", "RELEASING")
STEPPED = ("progressive", "regressive")  # phase modes whose EDIT_FORCE sets the top step's force
DEFAULT_TELEMETRY_HZ = 10.0  # device-time rate; the board batches samples into frames
POLL_S = 0.5  # wall seconds between status checks while waiting: events can be lost, status cannot
RECORD_WAIT_S = 5.0  # wall seconds to wait for the sealed record once the motor is off


def completed_normally(end: dict) -> bool:
    """A record's end that counts as success: COMPLETED or STOPPED, with no fault. Anything else (a fault,
    a lost lease, a reset, an end this SDK does not know) is a failure for every caller."""
    return end.get("reason") in ("COMPLETED", "STOPPED") and not end.get("fault")


@dataclass(frozen=True)
class Sample:
    """One telemetry sample: t_s is device seconds since the treatment started, pauses included; forces in
    N."""
    t_s: float  # device seconds since the treatment started (pauses included)
    force_n: float
    target_n: float
    state: str
    phase: int
    segment: str


@dataclass(frozen=True)
class Event:
    """One event the board sent (EVENT message): ms is device time since START, pauses included."""
    number: int
    ms: int  # device ms since the session started
    kind: str
    code: int
    value: int

    @classmethod
    def from_fields(cls, f):
        """From an EVENT message's fields or a stored events row."""
        return cls(f["event"], f["ms"], EVENT_NAME.get(f["kind"], str(f["kind"])), f["code"], f["value"])

    def describe(self, unit: str = "N", treatment: Treatment | None = None) -> str:
        """The event in words, forces in unit. With the session's treatment, an edit in a progressive or
        regressive phase says what the board does with it: the new force is the top step's (the last of a
        progressive phase, the first of a regressive one), and the current step moves in proportion (SPEC
        section 7), not the current step's force."""
        f = format_force(from_dn(self.value), unit)
        if self.kind == "EDIT" and treatment is not None and 0 <= self.code < len(treatment.phases) \
                and treatment.phases[self.code].mode in STEPPED:
            return f"phase {self.code + 1} edited: its top step is now {f}, the current step in proportion"
        return {
            "STATE": f"state {STATE_NAME.get(self.code, self.code)}",
            "PHASE": f"phase {self.code + 1}: {SEGMENT_NAME.get(self.value, self.value)}",
            "FAULT": f"fault {FAULT_NAME.get(self.code, self.code)} at {f}",
            "STOP_SWITCH": "stop switch " + ("pressed" if self.code else "released"),
            "PAUSE": f"paused, holding {f}",
            "RESUME": "resumed",
            "EDIT": f"phase {self.code + 1} force edited to {f}",
            "RECORD": f"record {self.value} sealed",
            "FAULT_CLEARED": f"fault {FAULT_NAME.get(self.code, self.code)} cleared",
            "BOOT": "board restarted" + (" unexpectedly" if self.code else ""),
        }.get(self.kind, self.kind)


class Session:
    """One treatment on a board: start() it, steer it, read its telemetry, wait() for its verified record."""
    def __init__(self, device: Device, treatment: Treatment, telemetry_hz: float = DEFAULT_TELEMETRY_HZ,
                 on_telemetry: "Callable[[Sample], Any] | None" = None,
                 on_event: "Callable[[Event], Any] | None" = None, source: str = "",
                 adc_samples: bool = False, on_adc_samples: "Callable[[AdcBatch], Any] | None" = None):
        self.device = device
        self.treatment = treatment
        self.source = source or treatment.file
        self.session_id = new_session_id()
        if isinstance(telemetry_hz, bool) or not isinstance(telemetry_hz, numbers.Real) \
                or not math.isfinite(telemetry_hz) or telemetry_hz <= 0:
            raise TractionError(f"telemetry_hz must be a number of samples per device second above zero, "
                                f"not {telemetry_hz!r}")
        self.div = max(1, min(100, round(device.info.control_hz / telemetry_hz)))
        self.row = 0  # the session's id in the store, from start() on (SQLite's ids start at 1)
        self.record: Record | None = None
        self.record_error: str | None = None
        self.events: list[Event] = []
        self.latest: Sample | None = None
        self.dropped_samples = 0  # gaps in the board's running sample numbers
        self.dropped_events = 0  # gaps in its running event numbers (the record keeps its own)
        self.callback_errors = 0  # exceptions raised by user callbacks (the first of each is logged)
        self._failed_callbacks = []
        self._on_telemetry = [on_telemetry] if on_telemetry else []
        self._on_event = [on_event] if on_event else []
        # every load-cell conversion (SAMPLES), when asked for: on_adc_samples implies it
        self.adc: AdcStream | None = AdcStream(device.info.control_hz) if adc_samples or on_adc_samples \
            else None
        self._on_adc = [on_adc_samples] if on_adc_samples else []
        self._samples = queue.SimpleQueue()
        self._t0_ms = None  # device ms of the first RUNNING sample
        self._next_sample = None
        self._next_event = None
        self._ended = threading.Event()
        self._record_id = None
        self.outage: str | None = None  # while the board does not answer: what it does meanwhile

    # ---- control ----
    def start(self):
        """SETUP, every PHASE, START. Refuses a treatment the board cannot run before moving anything."""
        dev = self.device
        self.treatment.check_device(dev.info)
        status = dev.status()
        if status.state == "FAULT":
            raise TractionError(f"board is in FAULT ({status.fault}): remove the cause, then `traction info "
                                "--clear-fault` (or Device.clear_fault())")
        if status.state not in ("IDLE", "READY"):
            raise TractionError(f"board is {status.state}: wait for the current treatment to end")
        limit = self.limit_n
        self.row = dev.store.new_session(self.session_id, dev.info.serial, self.treatment.to_dict(),
                                         self.source, self.treatment.unit)
        dev.add_listener(self._on_message)
        try:
            if self.adc is not None:
                dev.command("STREAM", samples=1)
            dev.command("SETUP", **self.treatment.setup_message(self.session_id, self.div, limit))
            for fields in self.treatment.phase_messages():
                dev.command("PHASE", **fields)
            state = STATE_NAME[dev.command("START")["state"]]
            if state == "FAULT":  # SPEC 7: START latches ZERO_DRIFT when the unloaded line reads off zero
                fault = dev.status().fault
                raise TractionError(f"board latched fault {fault} at START instead of starting: the unloaded "
                                    "line does not read zero; clear the fault and tare the load cell "
                                    "(traction info --port PORT --clear-fault --tare)")
        except TractionError as e:
            state = self._state_after()
            if state in ("RUNNING", "PAUSED"):
                # START reached the board but its reply never came back: the treatment runs, so the
                # session is followed as any other (filing it NOT_STARTED would hide a running board).
                log.warning("session %d: %s; the board is %s: following it", self.session_id, e, state)
                return self
            dev.remove_listener(self._on_message)
            self._stop_stream()
            dev.store.end_session(self.row, "NOT_STARTED")
            if state == "READY":
                dev.stop()  # leave no half set-up session behind (STOP in READY cancels it)
            raise
        return self

    def _state_after(self):
        """The board's state after a failed start, or None when it cannot be asked."""
        if self.device.lost:
            return None
        try:
            return self.device.status().state
        except TractionError:
            return None

    def pause(self):
        """Hold the force measured now and freeze the treatment timer; the board's new state."""
        return self._command("PAUSE")

    def resume(self):
        """Continue the profile where it paused; the board's new state."""
        return self._command("RESUME")

    def edit_force(self, newtons: float):
        """New traction force (N) for the current phase; the timer waits until it is reached.

        ForceError (nothing sent) unless 0 <= newtons <= limit_n."""
        return self._command("EDIT_FORCE", force_dn=to_dn(self._check_force(newtons, "edit_force")))

    @property
    def limit_n(self) -> float:
        """The session's effective limit in N: the treatment's max_force, never above the board's
        provisioned maximum for the region (the board faults when the measured force exceeds it)."""
        return min(self.treatment.max_force_n, self.device.info.region_max_n(self.treatment.region))

    def _check_force(self, newtons, what):
        limit = self.limit_n
        fix = f"give a force in newtons from 0 to {limit:g} N (this session's limit)"
        if isinstance(newtons, bool) or not isinstance(newtons, numbers.Real):
            raise ForceError(f"{what}: {newtons!r} is not a number; {fix}")
        if not math.isfinite(newtons):
            raise ForceError(f"{what}: {newtons!r} is not a finite number; {fix}")
        newtons = float(newtons)
        if newtons < 0:
            raise ForceError(f"{what}: {newtons:g} N is negative; {fix}")
        if to_dn(newtons) > to_dn(limit):
            unit = self.treatment.unit
            shown = f"{newtons:g} N" + (f" ({format_force(newtons, unit)})" if unit != "N" else "")
            raise ForceError(f"{what}: {shown} is above this session's limit of {limit:g} N (the treatment's "
                             f"max_force, the region and device maxima); {fix}")
        return newtons

    def stop(self):
        """Gentle stop: the board releases gradually and seals the record."""
        return self._command("STOP")

    def estop(self):
        """Emergency stop: latches fault ESTOP; the board releases in its controlled way."""
        return self._command("ESTOP")

    def _command(self, name, **fields):
        return STATE_NAME[self.device.command(name, **fields)["state"]]

    # ---- what comes back ----
    def add_telemetry_callback(self, fn: Callable[[Sample], Any]):
        """fn(sample) for every sample, on the link's reader thread (traction.aio runs callbacks on an
        event loop instead)."""
        self._on_telemetry.append(fn)

    def add_adc_callback(self, fn: Callable[[AdcBatch], Any]):
        """fn(batch) for every SAMPLES frame, on the link's reader thread; the session must have been made
        with adc_samples=True (the board sends them only when asked, at start())."""
        if self.adc is None:
            raise TractionError("this session does not ask for the load cell's samples: make it with "
                                "adc_samples=True")
        self._on_adc.append(fn)

    def add_event_callback(self, fn: Callable[[Event], Any]):
        """fn(event) for every event, on the link's reader thread (traction.aio runs callbacks on an event
        loop instead)."""
        self._on_event.append(fn)

    def telemetry(self, timeout: float | None = None) -> Iterator[Sample]:
        """Samples as they arrive, until the treatment ends (or timeout wall seconds without one)."""
        last = time.monotonic()
        while True:
            if self._ended.is_set():
                # A faulted board keeps sending telemetry: hand out what came so far, then stop.
                for _ in range(self._samples.qsize()):
                    yield self._samples.get_nowait()
                return
            try:
                yield self._samples.get(timeout=POLL_S)
                last = time.monotonic()
                continue
            except queue.Empty:
                pass
            if self._poll_ended():
                continue
            if timeout is not None and time.monotonic() - last > timeout:
                return

    @property
    def ended(self) -> bool:
        """True once the treatment is over (its record may still be on its way: wait())."""
        return self._ended.is_set()

    @property
    def succeeded(self) -> bool:
        """True only once the verified record says the treatment completed or was stopped."""
        return self.record is not None and completed_normally(self.record.end)

    def wait(self, timeout: float | None = None) -> Record | None:
        """Block until the treatment ends; then fetch, verify, store and acknowledge its record."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ended.wait(POLL_S):
            if self._poll_ended():
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("the treatment is still running" + (f"; {self.outage}" if self.outage
                                                                      else ""))
        return self.finish(deadline)

    def status(self):
        """The board's Status, or None while it does not answer (outage says what happens meanwhile)."""
        status = self._board(self.device.status)
        if status is not None and status.state not in ACTIVE:
            self._ended.set()
        return status

    def _poll_ended(self) -> bool:
        """Ask the board whether the treatment is over; False while it does not answer."""
        self.status()
        return self._ended.is_set()

    def _board(self, ask):
        """ask() the board; None while it does not answer, with outage saying what happens meanwhile."""
        try:
            answer = ask()
        except BoardUnreachable as e:
            if self.outage is None:
                self.outage = self.device.outage(e)
                log.warning("session %d: %s", self.session_id, self.outage)
            return None
        if self.outage is not None:
            log.warning("session %d: the board answers again", self.session_id)
            self.outage = None
        return answer

    def finish(self, deadline: float | None = None) -> Record | None:
        """Pick the record up and close the session in the store.

        The board lists a record once it is sealed, after its release (SPEC 9.1), which at a slow time
        scale takes many seconds: keep asking while the motor is on, and RECORD_WAIT_S after. While the
        board does not answer, keep asking (until the deadline, a time.monotonic() value, if given).
        """
        quiet_since = None
        while self.record is None and self.record_error is None:
            fetched_all = self._board(self.device.fetch_records)
            for fetched in fetched_all or ():
                if fetched.record is not None and fetched.record.session_id == self.session_id:
                    self.record = fetched.record
                elif fetched.error and self._record_id == fetched.record_id:
                    self.record_error = fetched.error
            if self.record is not None or self.record_error is not None:
                break
            now = time.monotonic()
            status = None if fetched_all is None else self._board(self.device.status)
            if status is None:
                if deadline is not None and now > deadline:
                    raise BoardUnreachable(self.outage or "the board does not answer")
                quiet_since = None
            elif status.motor_enabled:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since > RECORD_WAIT_S:
                break
            time.sleep(POLL_S)
        self.device.remove_listener(self._on_message)
        self._stop_stream()
        self.device.store.flush()
        if self.record is None:
            outcome = "RECORD_UNVERIFIED" if self.record_error else "NO_RECORD"
            self.device.store.end_session(self.row, outcome)
        return self.record

    def _stop_stream(self):
        """STREAM off when this session turned it on (best effort: a board that does not answer stops the
        stream at its next HELLO or reset)."""
        if self.adc is None or self.device.lost:
            return
        try:
            self.device.command("STREAM", samples=0)
        except TractionError as e:
            log.warning("session %d: could not turn the load-cell stream off: %s", self.session_id, e)

    # ---- the reader thread ----
    def _on_message(self, msg):
        if msg.name == "TELEMETRY":
            self._telemetry(msg.fields)
        elif msg.name == "EVENT":
            self._event(msg.fields)
        elif msg.name == "SAMPLES" and self.adc is not None:
            batch = self.adc.add(msg.fields)
            for fn in self._on_adc:
                self._call(fn, batch)

    def _telemetry(self, f):
        period_ms = f["period_us"] / 1000
        first_ms = f["sample"] * 1000 / self.device.info.control_hz
        step = max(1, round(f["period_us"] * self.device.info.control_hz / 1e6))
        if self._next_sample is not None and f["sample"] > self._next_sample:
            self.dropped_samples += (f["sample"] - self._next_sample) // step
        self._next_sample = f["sample"] + step * len(f["samples"])
        rows, samples = [], []
        for i, (force, target) in enumerate(f["samples"]):
            t_ms = first_ms + i * period_ms
            rows.append((f["sample"] + i * step, t_ms, f["state"], f["phase"], f["segment"], force, target))
            if self._t0_ms is None and f["state"] == STATE["RUNNING"]:
                self._t0_ms = t_ms
            t0 = t_ms if self._t0_ms is None else self._t0_ms
            sample = Sample((t_ms - t0) / 1000, from_dn(force), from_dn(target),
                            STATE_NAME.get(f["state"], "?"), f["phase"], SEGMENT_NAME.get(f["segment"], "?"))
            samples.append(sample)
        # Store and queue the whole frame before any user code runs: a callback that raises loses nothing.
        self.device.store.add_telemetry(self.row, rows)
        for sample in samples:
            self.latest = sample
            self._samples.put(sample)
        for sample in samples:
            for fn in self._on_telemetry:
                self._call(fn, sample)

    def _event(self, f):
        event = Event.from_fields(f)
        if self._next_event is not None:
            self.dropped_events += (event.number - self._next_event) & 0xFFFF
        self._next_event = (event.number + 1) & 0xFFFF
        self.events.append(event)
        self.device.store.add_event(self.row, f)
        if event.kind == "RECORD":
            self._record_id = event.value
            self._ended.set()
        elif event.kind == "STATE" and STATE_NAME.get(event.code) in ("IDLE", "FAULT"):
            self._ended.set()
        for fn in self._on_event:
            self._call(fn, event)

    def _call(self, fn, arg):
        """A user callback, on the reader thread: one that raises is logged (once per callback) and
        counted in callback_errors; the session, the store and the other callbacks carry on."""
        try:
            fn(arg)
        except Exception:
            self.callback_errors += 1
            if fn not in self._failed_callbacks:
                self._failed_callbacks.append(fn)
                log.exception("session %d: callback %s raised; the data is stored and the session goes on "
                              "(further errors of this callback are only counted in callback_errors)",
                              self.session_id, getattr(fn, "__qualname__", fn))
