"""Live progress of a running session on the terminal (rich): phase, force against target, time left.

Ctrl-C once stops the treatment gently (the board releases and seals the record); twice is an
emergency stop. Either way the record is still fetched and stored. While the board does not answer, the
outage is shown (what the board does meanwhile) and Ctrl-C gives up waiting for it.
"""

import time

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from traction.errors import TractionError
from traction.session import Session
from traction.units import format_force

REFRESH_S = 0.25


def follow(session: Session, console: Console, unit: str):
    """Show progress until the treatment ends, then return session.wait()'s record."""
    total_s = session.treatment.total_s
    interrupts = 0
    shown = 0
    outage = None
    with Live(console=console, refresh_per_second=8, transient=True) as live:
        while not session.ended:
            try:
                shown = _print_events(live.console, session.events, shown, unit)
                status = session.status()
                outage = _print_outage(live.console, session, outage)
                if status is not None:
                    live.update(_render(session, status, total_s, unit))
                time.sleep(REFRESH_S)
            except KeyboardInterrupt:
                if session.outage:
                    raise  # nothing reaches the board: give up waiting for it
                interrupts += 1
                _interrupt(session, console, interrupts)
    _print_events(console, session.events, shown, unit)
    while True:
        try:
            record = session.wait()
            _print_outage(console, session, outage)
            return record
        except KeyboardInterrupt:
            if session.outage:
                raise
            interrupts += 1
            _interrupt(session, console, interrupts)


def _print_outage(console, session, shown):
    """Say when the board stops answering (what it does meanwhile) and when it answers again."""
    if session.outage and not shown:
        console.print(f"[red]{session.outage}[/] (Ctrl-C gives up; `traction info --port PORT` fetches "
                      "the record later)")
    elif shown and not session.outage:
        console.print("[green]The board answers again.[/]")
    return session.outage


def _print_events(console, events, shown, unit):
    """Print events from index shown on; segment changes only show in the live line. Returns the new index."""
    for i in range(shown, len(events)):
        e = events[i]
        earlier = [p for p in events[:i] if p.kind == "PHASE"]
        if e.kind == "PHASE" and earlier and earlier[-1].code == e.code:
            continue
        console.print(f"  event: {e.describe(unit)}")
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
