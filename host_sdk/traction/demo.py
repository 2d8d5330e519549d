"""`traction demo`: a full 15-minute lumbar intermittent treatment on a virtual board, in about 15 s.

It writes the verified session summary (session.json), the force plot (force.png), the signed record
(session.rec), the host's store (traction.db) and, for a treatment that completed or was stopped, the
billing files (traction.billing.demo_outputs). Any other end is a failure (DemoFailed, exit 3).
"""

import json
import tempfile
from pathlib import Path

from rich.console import Console

from traction.billing import demo_outputs
from traction.device import Device
from traction.errors import TractionError
from traction.plot import plot_session
from traction.progress import CtrlC, follow
from traction.resources import resource
from traction.session import Session, completed_normally
from traction.store import Store
from traction.summary import summarize
from traction.treatment import Treatment
from traction.units import format_force

TREATMENT = "examples/lumbar_intermittent_15min.toml"  # a traction.resources name
# 900 s of device time in 9 s of wall time (benchmarks/demo_bench.py measures the whole run).
TIME_SCALE = 100
TELEMETRY_HZ = 2  # device-time samples per second: 200 per wall second at x100, 1800 in the plot


class DemoFailed(TractionError):
    """The demo's treatment did not end COMPLETED or STOPPED; .reason and .fault say how it ended."""

    def __init__(self, message, reason, fault):
        super().__init__(message)
        self.reason, self.fault = reason, fault


def run_demo(out_dir, time_scale: int = TIME_SCALE, seed: int = 1, console: Console | None = None) -> dict:
    """Run the demo; return {name: path} of what it wrote."""
    from traction.virtual_board import VirtualBoard

    console = console or Console()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    treatment_file = resource(TREATMENT)
    treatment = Treatment.load(treatment_file)
    unit = treatment.unit
    console.print(f"[bold]Traction demo[/]: {treatment.name} ({treatment_file.name})")
    for p in treatment.phases:
        console.print(f"  {p.mode}: hold {format_force(p.force_n, unit)} for {p.hold_s:g} s, rest at "
                      f"{format_force(p.base_n, unit)} for {p.rest_s:g} s, {p.duration_s / 60:g} min; "
                      f"{treatment.region}, {treatment.angle_deg:g} degrees, {treatment.position}")
    files = {}
    with tempfile.TemporaryDirectory(prefix="traction-demo-board-") as board_dir, \
            Store(out / "traction.db") as store:
        console.print("Starting a virtual board: the real firmware on MicroPython with a simulated motor, "
                      f"load cell and patient, its clock running x{time_scale} ...")
        with VirtualBoard(seed=seed, time_scale=time_scale, store_dir=board_dir) as board:
            store.set_key(board.serial, board.key)  # the sim's key, as provisioning would record it
            assert board.port is not None  # a started board has its pty
            with Device.open(board.port, store=store) as dev:
                info = dev.info
                console.print(f"Connected on {board.port}: board {info.serial}, firmware {info.firmware}, "
                              f"control loop {info.control_hz} Hz, "
                              f"{'calibrated' if info.calibrated else 'NOT calibrated'}")
                session = Session(dev, treatment, telemetry_hz=TELEMETRY_HZ, source=str(treatment_file))
                with CtrlC(session) as keys:  # a press during START is acted on once it runs
                    session.start()
                    console.print(f"Treatment started (session {session.session_id}); "
                                  f"{treatment.total_s / 60:g} min of treatment take about "
                                  f"{treatment.total_s / time_scale:.0f} s here. Ctrl-C stops it gently.")
                    record = follow(session, console, unit, ctrl_c=keys)
                if record is None:
                    raise RuntimeError(f"the board's record of the session could not be verified: "
                                       f"{session.record_error or 'no record arrived'}")
                completed = completed_normally(record.end)
                files.update(_write_outputs(out, store, session, record, unit, treatment.name, completed))
    if not completed:
        end = record.end
        _list(console, files)
        how = end["reason"] + (f" ({end['fault']})" if end["fault"] else "")
        raise DemoFailed(f"the treatment ended {how}, not COMPLETED or STOPPED: nothing to bill; its record "
                         f"and plot are in {out}", end["reason"], end["fault"])
    _report(console, record, files, unit)
    return files


def _write_outputs(out, store, session, record, unit, title, billing):
    files = {"session.json": out / "session.json", "force.png": out / "force.png",
             "session.rec": out / "session.rec", "traction.db": out / "traction.db"}
    files["session.json"].write_text(json.dumps(summarize(record), indent=2) + "\n")
    files["session.rec"].write_bytes(record.raw)
    store.flush()
    plot_session(store.telemetry(session.row), store.events(session.row), files["force.png"], unit=unit,
                 treatment=session.treatment,
                 title=f"{title}: record {record.record_id} from {record.serial}, {record.end['reason']}")
    if billing:
        for path in demo_outputs(record, out):  # summary.json, claim.fhir.json, claim.837, claim.csv, note.md
            files[Path(path).name] = Path(path)
    return files


def _report(console, record, files, unit):
    end = record.end
    console.print(f"[green]Done[/]: {end['reason'].lower()}; record {record.record_id} verified with the "
                  "device key and acknowledged.")
    console.print(f"  treatment {end['treatment_ms'] / 60000:.1f} min, under traction "
                  f"{end['traction_ms'] / 60000:.1f} min, peak {format_force(end['peak_dn'] / 10, unit)}, "
                  f"{sum(p['cycles'] for p in record.phases)} holds")
    billing = json.loads(files["summary.json"].read_text())
    lines = ", ".join(f"{li['code']} x{li['units']} {' '.join(li['modifiers'])}" for li in billing["lines"])
    console.print(f"  billing, with an example clinic context: {lines}; "
                  + ("billing-ready" if billing["billing_ready"] else "not billing-ready: see summary.json"))
    _list(console, files)


def _list(console, files):
    console.print("Outputs:")
    for name, path in files.items():
        console.print(f"  {name:<16} {path.resolve()}")
