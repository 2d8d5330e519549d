"""Progress of a running session: phase, force against target, time left, and the board's events.

On a terminal, a live display (rich). Into a pipe or a file, a plain line every PLAIN_EVERY_S wall seconds
and a line per event; with json_lines, one JSON object a line (docs/integrators.md, `run --json`).
Status notes (Ctrl-C, outages) go to the status console (stderr for `traction run`).

Ctrl-C once stops the treatment gently (the board releases and seals the record); twice is an
emergency stop. Either way the record is still fetched and stored. While the board does not answer, the
outage is shown (what the board does meanwhile) and Ctrl-C gives up waiting for it.
"""

import dataclasses
import json
import signal
import sys
import threading
import time
from contextlib import nullcontext

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from traction.device import Status
from traction.errors import TractionError
from traction.record import Record
from traction.session import Event, Session
from traction.units import format_force

REFRESH_S = 0.25
PLAIN_EVERY_S = 5.0  # wall seconds between progress lines when not on a terminal


def follow(session: Session, console: Console, unit: str, json_lines: bool = False,
           status_console: Console | None = None, ctrl_c: "CtrlC | None" = None) -> Record | None:
    """Show progress until the treatment ends, then return session.wait()'s record. console: where
    progress goes; status_console: where Ctrl-C and outage notes go (default: console); ctrl_c: the
    caller's CtrlC when it was entered before the session started (a press during START counts too)."""
    with nullcontext(ctrl_c) if ctrl_c else CtrlC(session) as keys:
        return _follow(session, console, unit, json_lines, status_console or console, keys)


class CtrlC:
    """Ctrl-C presses, counted by a SIGINT handler for as long as a treatment is followed. A press can land
    anywhere (between two statements, inside the display's own code); as a KeyboardInterrupt it could be
    lost or end the command with the board still pulling. Counted, the follow loop acts on each press when
    it next looks. While the board does not answer, a press raises KeyboardInterrupt: the host gives up
    waiting for it. Off the main thread (no signal handler there) presses stay KeyboardInterrupts."""

    def __init__(self, session: Session):
        self.session = session
        self.presses = 0
        self._previous = None

    def __enter__(self) -> "CtrlC":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._press)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _press(self, signum, frame):
        if self.session.outage:
            raise KeyboardInterrupt
        self.presses += 1


def _follow(session, console, unit, json_lines, notes, keys):
    live = console.is_terminal and not json_lines
    view = _Live(session, console, unit) if live else _Lines(session, console, unit, json_lines)
    handled = 0
    shown = 0
    outage = None
    with view.context():
        while not session.ended:
            while handled < keys.presses:
                handled += 1
                _interrupt(session, notes, handled)
            shown = view.events(session.events, shown)
            status = session.status()
            outage = _print_outage(notes, session, outage)
            if status is not None:
                view.status(status)
            time.sleep(REFRESH_S)
    shown = view.events(session.events, shown)
    record = session.wait()  # the treatment is over: a press now only counts (or gives up in an outage)
    view.events(session.events, shown)  # the board's RECORD event can come while its record is fetched
    _print_outage(notes, session, outage)
    return record


class _Live:
    """The terminal's live display: one block redrawn, events printed above it."""

    def __init__(self, session: Session, console: Console, unit: str):
        self.session, self.unit = session, unit
        self.live = Live(console=console, refresh_per_second=8, transient=True)

    def context(self):
        return self.live

    def events(self, events: list[Event], shown: int) -> int:
        return _print_events(self.live.console, events, shown, self.unit, self.session.treatment)

    def status(self, status: Status):
        self.live.update(_render(self.session, status, self.session.treatment.total_s, self.unit))


class _Lines:
    """Into a pipe or a file: a line per event and a progress line every PLAIN_EVERY_S, as text or JSON."""

    def __init__(self, session: Session, console: Console, unit: str, json_lines: bool):
        self.session, self.console, self.unit, self.json = session, console, unit, json_lines
        self.last = 0.0

    def context(self):
        return nullcontext()

    def events(self, events: list[Event], shown: int) -> int:
        if not self.json:
            return _print_events(self.console, events, shown, self.unit, self.session.treatment)
        for e in events[shown:]:
            emit({"type": "event", "kind": e.kind, "at_s": e.ms / 1000,
                  "text": e.describe(self.unit, self.session.treatment),
                  **{k: v for k, v in dataclasses.asdict(e).items() if k != "kind"}})
        return len(events)

    def status(self, status: Status):
        now = time.monotonic()
        if now - self.last < PLAIN_EVERY_S:
            return
        self.last = now
        if self.json:
            emit({"type": "progress", **dataclasses.asdict(status)})
            return
        total_s = self.session.treatment.total_s
        self.console.print(f"{status.state} phase {status.phase + 1}/{len(self.session.treatment.phases)} "
                           f"{status.segment.lower()}: force {format_force(status.force_n, self.unit)}, "
                           f"target {format_force(status.target_n, self.unit)}; "
                           f"{_mmss(min(status.treatment_s, total_s))} / {_mmss(total_s)}, "
                           f"{_mmss(status.remaining_s)} left", highlight=False)


def emit(obj: dict):
    """One JSON object on its own line of stdout, flushed (a reader sees it at once)."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _print_outage(console, session, shown):
    """Say when the board stops answering (what it does meanwhile) and when it answers again."""
    if session.outage and not shown:
        console.print(f"[red]{session.outage}[/] (Ctrl-C gives up; `traction info --port PORT` fetches "
                      "the record later)")
    elif shown and not session.outage:
        console.print("[green]The board answers again.[/]")
    return session.outage


def _print_events(console, events, shown, unit, treatment=None):
    """Print events from index shown on; segment changes only show in the live line. Returns the new index."""
    for i in range(shown, len(events)):
        e = events[i]
        earlier = [p for p in events[:i] if p.kind == "PHASE"]
        if e.kind == "PHASE" and earlier and earlier[-1].code == e.code:
            continue
        console.print(f"  event: {e.describe(unit, treatment)}")
    return len(events)


def _interrupt(session, console, count):
    try:
        if count == 1:
            console.print("[yellow]Ctrl-C: stopping gently (the board releases the force, then the record is "
                          "saved). Press Ctrl-C again for an emergency stop.[/]")
            session.stop()
        else:
            console.print("[red]Emergency stop.[/]")
            session.estop()
    except TractionError as e:
        console.print(f"[red]{e}[/]")


def _render(session, status, total_s, unit):
    t = session.treatment
    phase = t.phases[min(status.phase, len(t.phases) - 1)]
    segment = status.segment.lower().replace("_", " ")
    head = Text.assemble(
        (f"{status.state:<9}", "bold"),
        f"  phase {status.phase + 1}/{len(t.phases)} {phase.mode} ({segment})",
    )
    force = Text.assemble("  force ", (format_force(status.force_n, unit), "bold cyan"),
                          "  target ", (format_force(status.target_n, unit), "bold"))
    done = min(status.treatment_s, total_s)
    left = status.remaining_s
    scale = session.device.info.time_scale
    clock = f" {_mmss(done)} / {_mmss(total_s)}, {_mmss(left)} left"
    if scale > 1:
        clock += f" (about {left / scale:.0f} s at x{scale})"
    line = Table.grid()
    line.add_row(ProgressBar(total=max(total_s, 1), completed=done, width=30), clock)
    return Group(head, force, line)


def _mmss(seconds):
    seconds = max(0, int(seconds))
    return f"{seconds // 60:d}:{seconds % 60:02d}"
