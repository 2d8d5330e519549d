"""The `traction` command. Bad input anywhere ends in one error line on stderr (`traction: error: ...`)
and an exit status from the one table below (docs/integrators.md, "Exit status").

Other modules add subcommands: list the module in EXTENSIONS; its module-level register(subparsers) adds
a parser and sets its `func(args, console) -> int` (traction.virtual_board: `traction sim` and `inject`;
traction.billing.cli: `traction bill`; traction.build: `traction build`; traction.emulated_board:
`traction sim --mcu`, after traction.virtual_board; traction.qa_report: `traction qa report`). Such a
module imports what its command needs inside the command, so `traction --help` stays fast.
"""

import argparse
import importlib
import json
import logging
import math
import os
import sys
from datetime import datetime
from pathlib import Path

from traction.errors import TractionError

EXTENSIONS = ("traction.virtual_board", "traction.billing.cli", "traction.build", "traction.emulated_board",
              "traction.emulated_pico",
              "traction.qa_report", "traction.commission")
# Exit status, the same for every command (docs/integrators.md):
EXIT_OK = 0
EXIT_ERROR = 1  # bad input, a board, port, file or store error: one `traction: error:` line on stderr
EXIT_USAGE = 2  # the command line itself is wrong (argparse's usage message)
EXIT_FAULT = 3  # done, but not the outcome asked for: a treatment that did not end COMPLETED or STOPPED,
EXIT_OUTCOME = EXIT_FAULT  # a bill that is not billing-ready
EXIT_INTERRUPTED = 130  # Ctrl-C while nothing could be stopped
EXIT_PIPE = 141  # stdout closed by its reader: what a process killed by SIGPIPE reports (128 + 13)
PIPE_WIDTH = 1000  # columns rich lays out in when stdout is not a terminal
NO_KEY = "unknown: records cannot be verified (give --key-file)"
STORE_HELP = "store file (default $TRACTION_STORE or ~/.local/share/traction/traction.db)"


def build_parser() -> argparse.ArgumentParser:
    """The traction command's argument parser, with every extension's subcommands."""
    parser = argparse.ArgumentParser(prog="traction", description="Mechanical traction unit: SDK and tools.")
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="show the SDK's log on stderr (its warnings: unverified records, outages, "
                        "callback errors; -vv: debug messages too)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("info", help="connect to a board and show what it reports")
    _port_args(p)
    _json_arg(p, "one JSON object: the board's info and status")
    p.add_argument("--clear-fault", action="store_true", help="clear a latched fault (cause gone)")
    p.add_argument("--tare", action="store_true", help="zero the load cell (no force on the line)")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("run", help="run a treatment protocol file on a board")
    p.add_argument("protocol", metavar="PROTOCOL", help="treatment protocol file (TOML), e.g. "
                   "examples/cervical_intermittent.toml")
    _port_args(p)
    p.add_argument("--unit", choices=("N", "kgf", "lbf"), help="unit to show forces in (default: the file's)")
    p.add_argument("--telemetry-hz", type=_positive, default=10.0, help="telemetry rate in device time (10)")
    p.add_argument("--adc-samples", metavar="CSV", help="also stream every load-cell conversion at the ADC's "
                   "own rate and write them to this CSV file (number, t_s, raw_counts, force_n)")
    _json_arg(p, "one JSON object a line: events, progress every few seconds, then the end")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sessions", help="list the sessions in the local store")
    p.add_argument("--store", help=STORE_HELP)
    _json_arg(p, "a JSON array of the sessions, newest first")
    p.set_defaults(func=cmd_sessions)

    p = sub.add_parser("ports", help="list the serial ports of this machine (where a board may be)")
    _json_arg(p, "a JSON array of the ports")
    p.set_defaults(func=cmd_ports)

    p = sub.add_parser("completion", help="print a shell completion script (bash, zsh or tcsh)",
                       description="Print a completion script for the traction command. For bash: "
                       "traction completion bash > ~/.local/share/bash-completion/completions/traction")
    p.add_argument("shell", choices=("bash", "zsh", "tcsh"))
    p.set_defaults(func=cmd_completion)

    p = sub.add_parser("demo", help="a full 15-minute lumbar treatment on a virtual board, in about 15 s")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for session.json, force.png, ...")
    p.add_argument("--time-scale", type=int, default=None, help="device seconds per wall second (100)")
    p.add_argument("--seed", type=int, default=1, help="seed of the simulated patient and sensors")
    p.set_defaults(func=cmd_demo)

    for name in EXTENSIONS:
        importlib.import_module(name).register(sub)
    return parser


def version() -> str:
    """The installed traction-unit package's version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("traction-unit")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


class _Version(argparse.Action):
    """--version, looked up only when asked (importlib.metadata is slow to import)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"traction {version()}")
        parser.exit()


def _json_arg(p, what: str):
    p.add_argument("--json", action="store_true", help=f"machine-readable output on stdout: {what}")


def _port_args(p):
    p.add_argument("--port", required=True, help="device path (/dev/ttyACM0), pyserial URL "
                   "(socket://host:port, rfc2217://host:port) or 'sim' for a virtual board")
    p.add_argument("--store", help=STORE_HELP)
    p.add_argument("--key-file", type=_key_file, metavar="FILE",
                   help="the board's device key from its provisioning (32 bytes or 64 hex digits); "
                   "remembered in the store for the board's serial, so records are verified from then on")


def _key_file(path):
    from traction.record import load_key

    try:
        return load_key(path)
    except TractionError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _open(args):
    """Device.open for --port/--store/--key-file; a key given on the command line is remembered."""
    from traction.device import Device

    dev = Device.open(args.port, store=args.store, key=args.key_file)
    if args.key_file:
        dev.store.set_key(dev.info.serial, args.key_file)
    return dev


def _positive(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number above zero")
    return value


def cmd_info(args, console):
    """`traction info`: what the board reports, and the records it held."""
    from rich.table import Table

    with _open(args) as dev:
        i = dev.info
        table = Table(show_header=False, box=None)
        for k, v in (("serial", i.serial), ("board", "virtual (sim)" if i.sim else "real"),
                     ("firmware", i.firmware), ("protocol", i.protocol), ("time scale", f"x{i.time_scale}"),
                     ("control loop", f"{i.control_hz} Hz"),
                     ("maxima", f"device {i.hard_max_n:g} N, cervical {i.cervical_max_n:g} N, "
                                f"lumbar {i.lumbar_max_n:g} N"),
                     ("modes", ", ".join(m.lower() for m in i.modes)),
                     ("calibrated", _calibration_text(i)),
                     ("lock", _lock_text(i.security)),
                     ("key", "known" if dev.key else NO_KEY)):
            table.add_row(k, str(v))
        err = _console(stderr=True)
        if args.clear_fault:
            err.print(f"fault cleared; state {dev.clear_fault()}")
        if args.tare:
            err.print(f"load cell tared; state {dev.tare()}")
        s = dev.status()
        if args.json:
            _print_json({"info": _jsonable(i), "status": _jsonable(s), "key_known": dev.key is not None,
                         "store": str(dev.store.path),
                         "picked_up": [{"record_id": f.record_id, "acked": f.acked, "error": f.error}
                                       for f in dev.picked_up]})
            return EXIT_OK
        table.add_row("state", s.state + (f" (fault {s.fault})" if s.fault else ""))
        table.add_row("force", f"{s.force_n:.1f} N" + (", stop switch pressed" if s.stop_switch else ""))
        console.print(table)
        for f in dev.picked_up:
            console.print(f"record {f.record_id} picked up from the board: "
                          + ("verified, stored, acknowledged" if f.acked else f"kept unverified ({f.error})"))
        console.print(f"store: {dev.store.path}")
    return 0


def _calibration_text(info):
    """The calibration in force, named as the session records name it (docs/device-makers.md)."""
    if not info.cal_date:
        return "no"
    text = info.cal_date.date().isoformat()
    if info.cal_points:
        text += (f" (id {info.cal_id:08x}, {info.cal_points} weights, nonlinearity "
                 f"{info.cal_nonlin_ppm / 1e4:.2f} % of full scale)")
    return text


def _lock_text(security):
    """INFO's security bits as a device maker reads them (docs/device-makers.md, Lockdown)."""
    from traction_protocol.constants import SECURITY_PROVISIONED, SECURITY_REPL, SECURITY_SETTINGS_OK

    return ", ".join((
        "provisioned" if security & SECURITY_PROVISIONED else "NOT provisioned",
        "settings sealed" if security & SECURITY_SETTINGS_OK else "settings TAMPERED",
        "REPL open (service jumper or development image)" if security & SECURITY_REPL else "REPL locked"))


def cmd_run(args, console):
    """`traction run`: run a treatment file, follow it, store its verified record."""
    from traction.progress import CtrlC, follow
    from traction.session import Session
    from traction.treatment import Treatment

    treatment = Treatment.load(args.protocol)
    unit = args.unit or treatment.unit
    err = _console(stderr=True)
    for warning in treatment.warnings:
        err.print(f"[yellow]warning:[/] {warning}")
    adc_out = _adc_file(args.adc_samples)  # before anything moves: a path that cannot be written stops here
    with _open(args) as dev:
        session = Session(dev, treatment, telemetry_hz=args.telemetry_hz, source=args.protocol,
                          adc_samples=adc_out is not None)
        with CtrlC(session) as keys:  # a press during START is acted on once it runs: a gentle stop
            session.start()
            err.print(f"Running {treatment.name or args.protocol} on {dev.info.serial}: "
                      f"{treatment.total_s / 60:g} min. Ctrl-C stops it gently.")
            if args.json:
                _print_json({"type": "started", "session_id": session.session_id, "serial": dev.info.serial,
                             "treatment": treatment.name or args.protocol, "total_s": treatment.total_s})
            record = follow(session, console, unit, json_lines=args.json, status_console=err, ctrl_c=keys)
        adc = session.adc
        if adc_out is not None and adc is not None:  # adc_samples=True made session.adc
            with adc_out:
                adc.write_csv(adc_out)
            err.print(f"{len(adc)} load-cell samples at {adc.sps}/s, {adc.lost} lost, in {args.adc_samples}")
        if record is None:
            raise TractionError(f"session {session.session_id}: no verified record "
                                f"({session.record_error or 'the board sent none'}); the raw data is in "
                                f"{dev.store.path}")
        end = record.end
        if args.json:
            _print_json({"type": "end", "record_id": record.record_id, "reason": end["reason"],
                         "fault": end["fault"], "treatment_s": end["treatment_ms"] / 1000,
                         "store": str(dev.store.path)})
            return exit_status(end)
        console.print(f"Ended: {end['reason']}" + (f" ({end['fault']})" if end["fault"] else "")
                      # a record sealed after a reset knows the totals up to its last checkpoint only
                      + ("; treatment at least" if end["reason"] == "RESET" else "; treatment")
                      + f" {end['treatment_ms'] / 60000:.1f} min; record {record.record_id} "
                      f"verified and stored in {dev.store.path}")
        return exit_status(end)


def _adc_file(path):
    """The CSV file --adc-samples names, opened for writing; None without the option."""
    if path is None:
        return None
    try:
        return open(path, "w", newline="")  # noqa: SIM115 - closed once the session ends
    except OSError as e:
        raise TractionError(f"--adc-samples {path}: cannot write it ({e.strerror})") from None


def exit_status(end) -> int:
    """0 for a treatment that completed or was stopped; EXIT_FAULT for any other end (a fault, a board
    reset, a reason this SDK does not know), or any end that names a fault."""
    from traction.session import completed_normally

    return 0 if completed_normally(end) else EXIT_FAULT


def cmd_sessions(args, console):
    """`traction sessions`: the sessions in the store, newest first."""
    from traction.store import Store

    with Store(args.store, create=False) as store:  # a listing never creates a store
        rows = store.list_sessions()
    if args.json:
        _print_json([_jsonable(r) for r in rows])
        return EXIT_OK
    if not rows:
        print(f"no sessions in {store.path}")
        return 0
    print(f"sessions in {store.path}, newest first")
    print(f"{'id':>4}  {'started (UTC)':<16}  {'board':<12} {'outcome':<18} {'record':<14} {'samples':>7} "
          f"{'events':>6}  protocol")
    for r in rows:
        started = r.started_utc.strftime("%Y-%m-%d %H:%M")
        rec = "-" if r.record_id is None else f"{r.record_id} " + ("verified" if r.verified else "UNVERIFIED")
        outcome = r.outcome or "no end seen"
        print(f"{r.id:>4}  {started:<16}  {r.serial:<12} {outcome:<18} {rec:<14} "
              f"{r.samples:>7} {r.events:>6}  {Path(r.source).name}")
    return 0


def cmd_ports(args, console):
    """`traction ports`: the serial ports pyserial finds."""
    from serial.tools.list_ports import comports

    ports = sorted(comports(), key=lambda p: p.device)
    if args.json:
        _print_json([{"device": p.device, "description": p.description, "hwid": p.hwid,
                      "serial_number": p.serial_number, "manufacturer": p.manufacturer} for p in ports])
        return EXIT_OK
    if not ports:
        print("no serial ports found (a virtual board: --port sim, or `traction sim`)", file=sys.stderr)
    for p in ports:
        print(f"{p.device}\t{p.description}\t{p.hwid}")
    return EXIT_OK


def cmd_completion(args, console):
    """`traction completion SHELL`: a static completion script (shtab)."""
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell))
    return EXIT_OK


def _jsonable(obj) -> dict:
    """A dataclass as JSON-ready fields (dates ISO 8601 UTC, tuples as lists)."""
    import dataclasses

    return {k: v.isoformat() if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(obj).items()}


def _print_json(obj):
    print(json.dumps(obj), flush=True)


def cmd_demo(args, console):
    """`traction demo`: a full treatment on a virtual board, with its summary, plot and billing files."""
    from traction.demo import TIME_SCALE, DemoFailed, run_demo

    try:
        run_demo(args.out, time_scale=args.time_scale or TIME_SCALE, seed=args.seed, console=console)
    except DemoFailed as e:
        print(f"traction: error: demo failed: {e}", file=sys.stderr)
        return EXIT_FAULT
    return 0


def main(argv=None) -> int:
    """Run the traction command; returns its exit status (the table in docs/integrators.md)."""
    try:
        args = build_parser().parse_args(argv)
        _logging(args.verbose)
        code = args.func(args, _console()) or 0
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        # The reader went away (`traction sessions | head`): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_PIPE
    except KeyboardInterrupt:
        print("traction: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (TractionError, OSError, RuntimeError, ValueError) as e:
        # RuntimeError covers the virtual board's and the interpreter finder's errors.
        detail = getattr(e, "detail", None)  # a virtual board's last output, for who asks for it
        debug = os.environ.get("TRACTION_DEBUG")
        hint = " (set TRACTION_DEBUG=1 to see the board's last output)" if detail and not debug else ""
        print(f"traction: error: {_one_line(e)}{hint}", file=sys.stderr)
        if detail and debug:
            print(detail, file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # a bug: still one line, with the way to the traceback
        if os.environ.get("TRACTION_DEBUG"):
            raise
        print(f"traction: internal error: {type(e).__name__}: {_one_line(e)} "
              "(set TRACTION_DEBUG=1 to see the traceback)", file=sys.stderr)
        return EXIT_ERROR


def _logging(verbose: int):
    """The SDK logs what it also reports through return values, which the commands print: its log shows
    on stderr only with -v (INFO) or -vv (DEBUG)."""
    log = logging.getLogger("traction")
    log.propagate = False
    if not verbose:
        log.addHandler(logging.NullHandler())
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("traction: %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)


def _console(stderr: bool = False):
    """rich's Console (imported here: `traction --help` does not need it)."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal:
        # Into a file or a pipe: no hard wrapping at 80 columns, which would break paths and lines in two.
        console = Console(stderr=stderr, soft_wrap=True, width=PIPE_WIDTH)
    return console


def _one_line(e):
    """A message on one line: its first line, and its last when there are more (where a crash ends up)."""
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    if not lines:
        return type(e).__name__
    if len(lines) == 1:
        return lines[0]
    return f"{lines[0]} {lines[-1]}" if lines[0].endswith(":") else f"{lines[0]} ... {lines[-1]}"


if __name__ == "__main__":
    sys.exit(main())
