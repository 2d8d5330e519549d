"""The QA record of a hil_tests run (docs/qa.md): measurements with limits, the board's identity, hazard
traceability, a JSON test record beside the JUnit XML. `traction qa report RUN.json` renders it.

Registered by hil_tests/conftest.py. Every run writes DIR/run.json and DIR/junit.xml (DIR: --qa-dir, or
qa-runs/<UTC time> under the project: the root conftest.py sets both paths, before pytest's junitxml reads
its own); a --junitxml given on the command line is used instead of DIR's.
The board is checked once, before the first test: a missing, silent or misconfigured board stops the run
with one error, which the JUnit XML shows.
"""

import getpass
import importlib.metadata
import importlib.util
import json
import os
import platform
import socket
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from traction import Device, TractionError, VirtualBoard
from traction.emulated_board import EmulatedBoard
from traction.emulated_pico import EmulatedPico, EmulatedPicoADS1220
from traction.record import RecordError, load_key, parse_key, verify

ROOT = Path(__file__).resolve().parent.parent
# --board: an emulated board (QEMU, rp2040js; the Pico with its HX711 or an ADS1220)
EMULATED = {"mcu": EmulatedBoard, "rp2040": EmulatedPico, "rp2040-ads1220": EmulatedPicoADS1220}
RECORD_FORMAT = "traction-hil-run/1"
KEY_ENV = "TRACTION_BOARD_KEY"
BOARD_FIXTURES = {"device", "connect"}  # a test using either drives the board
TELEMETRY_KEYS = ("t_ms", "force_dn", "target_dn", "state", "phase", "segment")
EVENT_KEYS = ("event", "ms", "kind", "code", "value")
RUN = pytest.StashKey["Run"]()
WRONG_KEY = "does not match the device key"  # traction.record's words for a seal made with another key


@dataclass(frozen=True)
class Rig:
    """The board under test as checked once per run: port (None: a virtual board per test), key, identity."""

    port: str | None
    key: bytes | None
    identity: dict


class Run:
    """What the record holds, filled in as the run goes."""

    def __init__(self, config):
        self.config = config
        self.started = datetime.now(UTC)
        self.identity = None
        self.hazards = {}  # nodeid -> hazard ids of the selected tests (their markers)
        self.tests = {}  # nodeid -> the test's entry in the record
        self.dir = Path(config.getoption("--qa-dir"))
        self.path = None  # run.json, once written

    def test(self, nodeid):
        return self.tests.setdefault(nodeid, {"id": nodeid, "outcome": "passed", "duration_s": 0.0,
                                              "hazards": self.hazards.get(nodeid, []), "message": None,
                                              "measurements": [], "sessions": []})

    def record(self, exitstatus):
        outcomes = [t["outcome"] for t in self.tests.values()]
        verdict = "PASS" if exitstatus == 0 and not {"failed", "error"} & set(outcomes) else "FAIL"
        register, matrix = hazard_matrix()
        return {
            "format": RECORD_FORMAT,
            "station": station(self.config),
            "board": self.identity,
            "software": software(),
            "start_utc": self.started.isoformat(timespec="seconds"),
            "end_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "outcome": verdict,
            "exit_status": int(exitstatus),
            "counts": {o: outcomes.count(o) for o in ("passed", "failed", "error", "skipped")},
            "junit": str(self.config.option.xmlpath),
            "tests": list(self.tests.values()),
            # The register and which tests name each hazard: tools/hazard_matrix.py, as docs/safety.md has it.
            "hazards": [{"id": hid, "title": title, "tests": matrix.get(hid, [])}
                        for hid, title in register.items()],
        }


# ---- hooks ----
def pytest_configure(config):
    config.stash[RUN] = Run(config)


def pytest_report_header(config):
    if config.getoption("--board-key"):
        return [f"hil_tests: --board-key is deprecated (the key shows in ps and the shell history): put "
                f"it in a file for --board-key-file, or in ${KEY_ENV}"]
    return None


def pytest_collection_finish(session):
    run = session.config.stash[RUN]
    for item in session.items:
        run.hazards[item.nodeid] = [h for m in item.iter_markers("hazard") for h in m.args]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    entry = item.config.stash[RUN].test(report.nodeid)
    entry["duration_s"] = round(entry["duration_s"] + report.duration, 3)
    before = entry["outcome"]
    entry["outcome"] = outcome_of(report, before)
    if entry["outcome"] != before or (report.failed and not entry["message"]):
        entry["message"] = short_message(report)
    # A board with no record at the start proves the key on the first one: a wrong key fails every test
    # that reads a record, so stop at the first.
    if report.failed and WRONG_KEY in str(report.longrepr) and item.config.getoption("--board") != "sim":
        item.session.shouldfail = (f"hil_tests: the device key does not verify the board's records: check "
                                   f"--board-key-file or ${KEY_ENV}")
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    run = session.config.stash[RUN]
    if not run.tests:
        return
    path = run.dir / "run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run.record(exitstatus), indent=1) + "\n")
    run.path = path


def pytest_terminal_summary(terminalreporter, config):
    path = config.stash[RUN].path
    if path:
        terminalreporter.write_line(f"QA record: {path} (JUnit: {config.option.xmlpath}); "
                                    f"report: traction qa report {path}")


# ---- fixtures ----
@pytest.fixture
def measure(request, record_property):
    """measure(name, value, unit, low=None, high=None) -> value: records a measured figure with its limits
    and verdict (in the JUnit XML and the QA record) and fails the test when it is outside them."""
    entry = request.config.stash[RUN].test(request.node.nodeid)

    def measure(name, value, unit, low=None, high=None):
        __tracebackhide__ = True
        m = measurement(name, value, unit, low, high)
        entry["measurements"].append(m)
        record_property(f"measurement.{name}", describe(m))
        if m["verdict"] != "PASS":
            raise AssertionError(f"measurement {describe(m)}")
        return m["value"]

    return measure


@pytest.fixture
def record_session(request):
    """record_session(device, session): keeps the session's telemetry and events for the report's plot."""
    entry = request.config.stash[RUN].test(request.node.nodeid)

    def record(device, session):
        telemetry = device.store.telemetry(session.row)
        events = device.store.events(session.row)
        entry["sessions"].append({
            "session_id": session.session_id, "treatment": session.treatment.name,
            "telemetry": [{k: r[k] for k in TELEMETRY_KEYS} for r in telemetry],
            "events": [{k: r[k] for k in EVENT_KEYS} for r in events]})

    return record


@pytest.fixture(scope="session")
def rig(request, tmp_path_factory, record_testsuite_property):
    """The board checked once: it answers, the key is there (and verifies a record it holds), a real board's
    operator has confirmed the forces. Anything wrong fails the first test and stops the run."""
    config, session = request.config, request.session
    run = config.stash[RUN]
    target = config.getoption("--board")
    work = tmp_path_factory.mktemp("rig")
    try:
        if target == "sim":
            with VirtualBoard(store_dir=work / "board", time_scale=config.getoption("--time-scale")) as vb:
                port, key, identity = None, vb.key, read_identity(vb.port, work, vb.key)
        elif target in EMULATED:  # an emulated board (a fresh one per test; this one only for its identity)
            with EMULATED[target]() as eb:
                port, key, identity = None, eb.key, read_identity(eb.port, work, eb.key)
        else:
            port, key = target, board_key(config)
            identity = read_identity(port, work, key)
            if key is None:
                raise RecordError(f"no device key for board {identity['serial']}: give --board-key-file FILE "
                                  "(the key from its provisioning: 32 bytes or 64 hex digits) or set "
                                  f"{KEY_ENV}; without it no record of the run can be verified")
        failure = None
    except (TractionError, RuntimeError, OSError) as e:
        failure = f"hil_tests: the board ({target}) is not usable: {e}"
    if failure:
        stop_run(session, failure)
    identity["target"] = target
    run.identity = identity
    for name, value in identity.items():
        record_testsuite_property(f"board.{name}", "" if value is None else str(value))
    for name, value in software().items():
        record_testsuite_property(f"software.{name}", "" if value is None else str(value))
    if identity["kind"] != "sim" and target not in EMULATED:  # the Pico image says "real": it is emulated
        confirm(config, session, identity)
    return Rig(port, key, identity)


# ---- the board ----
def board_key(config):
    """The real board's key: --board-key-file, $TRACTION_BOARD_KEY, or the deprecated --board-key; or None."""
    path, text = config.getoption("--board-key-file"), config.getoption("--board-key")
    if path:
        return load_key(path)
    if os.environ.get(KEY_ENV):
        return parse_key(os.environ[KEY_ENV], f"${KEY_ENV}")
    return parse_key(text, "--board-key") if text else None


def read_identity(port, work, key):
    """INFO and STATUS, read once; a board holding a record proves the key on it (read, not acknowledged)."""
    with Device.open(port, store=work / "identity.db", key=key, fetch=False) as dev:
        info, status = dev.info, dev.status()
        ids = dev.command("RECORD_LIST")["record_ids"]
        key_checked = False
        if ids and key is not None:
            try:
                verify(dev.read_record(ids[0]), key)
            except RecordError as e:
                raise RecordError(f"the device key does not verify record {ids[0]} of board {info.serial} "
                                  f"({e}): is it this board's key?") from None
            key_checked = True
    return {
        "kind": "sim" if info.sim else "real",
        "serial": info.serial,
        "firmware": info.firmware,
        "firmware_build": None,  # INFO carries no build id (SPEC section 4): the version is all a board says
        "protocol": info.protocol,
        "calibrated": info.calibrated,
        "cal_date": info.cal_date.date().isoformat() if info.cal_date else None,
        "time_scale": info.time_scale,
        "control_hz": info.control_hz,
        "hard_max_n": info.hard_max_n,
        "cervical_max_n": info.cervical_max_n,
        "lumbar_max_n": info.lumbar_max_n,
        "state_at_start": status.state + (f" ({status.fault})" if status.fault else ""),
        "key_checked_on_a_record": key_checked,
    }


def confirm(config, session, identity):
    """A real board pulls: say how hard, and go on only on --yes or a 'yes' typed at the terminal."""
    lines = [f"hil_tests will drive the real board {identity['serial']} on {identity['target']} "
             f"(firmware {identity['firmware']}, calibrated {identity['cal_date'] or 'never'}):"]
    for region, (peak, ceiling) in sorted(pulls(session.items).items()):
        lines.append(f"  {region}: up to {peak:g} N asked, session ceiling {ceiling:g} N")
    lines.append("  A test rig or a spring on the line, never a person; the stop switch within reach.")
    text = "\n".join(lines)
    if config.getoption("--yes"):
        config.pluginmanager.get_plugin("terminalreporter").write_line(text + "\n  (--yes given)")
        return
    try:
        with open("/dev/tty", "r+") as tty:
            tty.write(text + "\nType yes to go on: ")
            tty.flush()
            answer = tty.readline().strip().lower()
    except OSError:
        stop_run(session, f"{text}\nhil_tests: no terminal to confirm at: give --yes for an unattended rig")
    if answer != "yes":
        stop_run(session, "hil_tests: not confirmed by the operator; nothing was driven")


def pulls(items):
    """{region: (highest force asked, highest session ceiling)} of the treatments the selected tests that
    drive the board can run: a session test's own phases, any other test every treatment of hil_support."""
    from hil_support import PHASES, plan

    out = {}
    for item in items:
        if not BOARD_FIXTURES & set(item.fixturenames) or item.get_closest_marker("skip"):
            continue
        phases = getattr(item, "callspec", None) and item.callspec.params.get("phases")
        for name in ([phases] if isinstance(phases, str) else phases) if phases else PHASES:
            t = plan(name)
            peak, ceiling = out.get(t.region, (0.0, 0.0))
            out[t.region] = (max(peak, t.peak_n), max(ceiling, t.max_force_n))
    return out


def stop_run(session, message):
    """Fail the test being set up with message and run no other: one clear error, red in the JUnit XML."""
    __tracebackhide__ = True
    session.shouldfail = message.splitlines()[-1]
    pytest.fail(message, pytrace=False)


# ---- the record ----
def measurement(name, value, unit, low=None, high=None):
    """A measured figure with its limits (either may be None) and its verdict."""
    value = float(value)
    passed = (low is None or value >= low) and (high is None or value <= high)
    return {"name": name, "value": value, "unit": unit, "low": low, "high": high,
            "verdict": "PASS" if passed else "FAIL"}


def describe(m):
    """A measurement on one line: '302.4 N (<= 315 N) PASS'."""
    low, high = m["low"], m["high"]
    limits = (f"{low:g}..{high:g}" if low is not None and high is not None else
              f">= {low:g}" if low is not None else f"<= {high:g}" if high is not None else "no limit")
    return f"{m['name']} = {m['value']:g} {m['unit']} ({limits} {m['unit']}) {m['verdict']}"


def hazard_matrix():
    """(register, {hazard: tests}) from tools/hazard_matrix.py, the one reader of the tests' hazard marks."""
    spec = importlib.util.spec_from_file_location("hazard_matrix", ROOT / "tools" / "hazard_matrix.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.register(), module.marked_tests()


def station(config):
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    return {"host": socket.gethostname(), "user": user, "platform": platform.platform(),
            "command": ["pytest", *config.invocation_params.args],
            "directory": str(config.invocation_params.dir)}


def software():
    return {"traction": importlib.metadata.version("traction-unit"), "source": git_revision(),
            "python": platform.python_version(), "pytest": pytest.__version__}


def git_revision():
    """The commit the suite and the SDK (and a virtual board's firmware) come from; '+changes' if edited."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+changes" if dirty else "")


def outcome_of(report, current):
    """A test's outcome from its setup, call and teardown reports."""
    if report.failed:
        return "failed" if report.when == "call" else "error"
    if report.skipped and current == "passed":
        return "skipped"
    return current


def short_message(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    if isinstance(report.longrepr, tuple):  # a skip: (file, line, reason)
        return str(report.longrepr[2])
    return str(report.longrepr).strip().splitlines()[-1] if report.longrepr else None
