"""The QA record of a run (qa_plugin.py) and its report (`traction qa report`), through real pytest runs of
this suite on the virtual board, on a port that does not exist and on one that never answers."""

import json
import os
import pty
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest
import qa_plugin
from hil_support import plan
from traction import Device, Session, VirtualBoard

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = "hil_tests/test_sessions.py"
FAULTS = "hil_tests/test_faults.py::test_an_injected_fault_ends_in_fault_with_the_force_released"
SAMPLE = [f"{FAULTS}[cable_snap]", f"{FAULTS}[motor_stalled]",
          "hil_tests/test_faults.py::test_an_emergency_stop_from_the_host_releases_and_latches",
          "hil_tests/test_sessions.py::test_a_session_runs_to_completion_and_its_record_matches_the_request[static]"]


@pytest.fixture(autouse=True)
def on_the_virtual_board(request):
    if request.config.getoption("--board") != "sim":
        pytest.skip("the QA machinery is checked with the virtual board (--board sim)")


def run_suite(tmp_path, *args, env=None):
    """pytest on this project in a subprocess: (process, JUnit <testsuite>, run.json or None)."""
    qa = tmp_path / "qa"
    environ = {k: v for k, v in os.environ.items() if k != qa_plugin.KEY_ENV}
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--qa-dir", str(qa), *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**environ, **(env or {})})
    suite = ET.parse(qa / "junit.xml").getroot().find("testsuite")
    record = json.loads((qa / "run.json").read_text()) if (qa / "run.json").exists() else None
    return proc, suite, record


def assert_stopped_at_once(proc, suite, record, message):
    """Red, one error, no test after it, the message on the terminal, in the JUnit XML and the record."""
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert (suite.get("tests"), suite.get("errors"), suite.get("failures")) == ("1", "1", "0")
    assert message in suite.find("testcase/error").get("message")
    assert message in proc.stdout
    assert record["outcome"] == "FAIL" and record["counts"]["error"] == 1 and record["board"] is None


def test_a_board_that_does_not_exist_stops_the_run_at_once_with_an_error(tmp_path):
    proc, suite, record = run_suite(tmp_path, SESSIONS, "--board", "/dev/traction-none")
    assert_stopped_at_once(proc, suite, record, "port /dev/traction-none does not exist")


def test_a_silent_port_stops_the_run_at_once_with_an_error(tmp_path):
    master, slave = pty.openpty()  # a port that exists and never answers
    port = os.ttyname(slave)
    try:
        proc, suite, record = run_suite(tmp_path, SESSIONS, "--board", port)
    finally:
        os.close(master)
        os.close(slave)
    assert_stopped_at_once(proc, suite, record, f"the board ({port}) is not usable")


@pytest.fixture(scope="module")
def board_with_a_record(tmp_path_factory):
    """A virtual board started on its own (as the rehearsal does) that holds one verified session record."""
    work = tmp_path_factory.mktemp("rehearsal")
    with VirtualBoard(store_dir=work / "board") as vb:
        # Run with another key: the record does not verify, so the host leaves it on the board unacknowledged.
        with Device.open(vb.port, store=work / "host.db", key=bytes(32)) as dev:
            session = Session(dev, plan("static")).start()
            session.wait(timeout=60)
            assert dev.status().record_pending, session.record_error
        yield vb


def test_a_board_without_a_key_stops_the_run_naming_the_options(tmp_path, board_with_a_record):
    proc, suite, record = run_suite(tmp_path, SESSIONS, "--board", board_with_a_record.port)
    assert_stopped_at_once(proc, suite, record, "give --board-key-file FILE")
    assert qa_plugin.KEY_ENV in proc.stdout


def test_a_wrong_key_is_found_on_a_record_the_board_holds(tmp_path, board_with_a_record):
    proc, suite, record = run_suite(tmp_path, SESSIONS, "--board", board_with_a_record.port,
                                    env={qa_plugin.KEY_ENV: "11" * 32})
    assert_stopped_at_once(proc, suite, record, "the device key does not verify record")


def test_a_wrong_key_on_a_board_without_records_stops_the_run_at_the_first_record(tmp_path):
    with VirtualBoard(store_dir=tmp_path / "board") as vb:
        proc, suite, record = run_suite(tmp_path, SESSIONS, "--board", vb.port,
                                        env={qa_plugin.KEY_ENV: "11" * 32})
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert (suite.get("tests"), suite.get("failures")) == ("1", "1")
    assert "does not match the device key" in suite.find("testcase/failure").get("message")
    assert "the device key does not verify the board's records" in proc.stdout
    assert record["outcome"] == "FAIL" and record["board"]["key_checked_on_a_record"] is False


def test_a_run_records_measurements_identity_and_hazards_and_renders_its_report(tmp_path):
    proc, suite, record = run_suite(tmp_path, *SAMPLE)
    assert proc.returncode == 0, proc.stdout[-3000:]
    # JUnit: the board's identity on the suite, each measurement on its test.
    props = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
    assert props["board.serial"] == "SIM-0001" and props["board.kind"] == "sim"
    assert props["board.cal_date"] and props["board.firmware"] and props["software.source"]
    snap = next(c for c in suite.findall("testcase") if c.get("name").endswith("[cable_snap]"))
    peak = {p.get("name"): p.get("value") for p in snap.findall("properties/property")}
    assert peak["measurement.true_peak_force"].endswith("PASS")

    # The record: every test with its outcome; measurements with limits; hazards from the markers, which
    # are what tools/hazard_matrix.py reads from the source.
    tests = {t["id"]: t for t in record["tests"]}
    assert set(tests) == set(SAMPLE) and {t["outcome"] for t in tests.values()} == {"passed"}
    assert record["outcome"] == "PASS" and record["board"]["serial"] == "SIM-0001"
    matrix = {h["id"]: set(h["tests"]) for h in record["hazards"]}
    for test in tests.values():
        assert {h for h, named in matrix.items() if test["id"] in named} == set(test["hazards"]), test["id"]
    assert tests[f"{FAULTS}[cable_snap]"]["hazards"] == ["H-14"]
    peak = next(m for m in tests[f"{FAULTS}[cable_snap]"]["measurements"] if m["name"] == "true_peak_force")
    assert peak["verdict"] == "PASS" and peak["high"] == pytest.approx(345 * 1.05)
    assert 290 < peak["value"] <= 345
    assert all(t["sessions"] and t["sessions"][0]["telemetry"] for t in tests.values())

    out = tmp_path / "report"
    cmd = [sys.executable, "-m", "traction.cli", "qa", "report", str(tmp_path / "qa" / "run.json"),
           "--out", str(out)]
    cli = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    assert "hazards no test names: none" in cli.stdout
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(SAMPLE)  # a force plot per session test
    assert "Line snaps or slips" in page and f"{FAULTS}[cable_snap]" in page and "true_peak_force" in page
    assert "SIM-0001" in page and ">PASS<" in page
    matrix_md = (out / "traceability.md").read_text()
    rows = [line for line in matrix_md.splitlines() if line.startswith("| H-")]
    assert [r.split(" | ")[0][2:] for r in rows] == [h["id"] for h in record["hazards"]]  # every hazard
    snap_row = next(line for line in matrix_md.splitlines() if f"{FAULTS}[cable_snap]" in line)
    assert "| passed |" in snap_row and "true_peak_force" in snap_row
    assert "| not run |" in matrix_md  # the firmware tests of the same hazards, not in this run


def test_a_bare_pytest_writes_the_junit_beside_the_record(tmp_path):
    # No path: the testpaths, where pytest reads the JUnit XML's path before it loads hil_tests' conftest.
    proc, suite, record = run_suite(tmp_path, "-k", "test_a_measurement_outside_its_limits_fails")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert suite.get("tests") == "1" and [t["id"] for t in record["tests"]] == [
        "hil_tests/test_qa_record.py::test_a_measurement_outside_its_limits_fails"]


def test_a_measurement_outside_its_limits_fails():
    assert qa_plugin.measurement("f", 315.1, "N", high=315)["verdict"] == "FAIL"
    assert qa_plugin.measurement("f", 315, "N", high=315)["verdict"] == "PASS"
    assert qa_plugin.measurement("e", -5.1, "N", low=-5, high=5)["verdict"] == "FAIL"
    assert qa_plugin.describe(qa_plugin.measurement("e", 2, "N", low=-5, high=5)) == "e = 2 N (-5..5 N) PASS"


def test_a_real_board_shows_what_it_will_pull_and_needs_a_yes(monkeypatch):
    items = [item(fixtures=["device"], phases="static"),
             item(fixtures=["device"], phases=("cyclic", "static")),
             item(fixtures=["tmp_path"]), item(fixtures=["connect"], skipped=True)]
    assert qa_plugin.pulls(items) == {"lumbar": (280.0, plan("cyclic").max_force_n)}
    assert qa_plugin.pulls([item(fixtures=["connect"])])["lumbar"][0] == 330.0  # any treatment of the suite
    identity = {"serial": "TU-1", "target": "/dev/ttyACM0", "firmware": "0.1.0", "cal_date": "2026-01-01"}
    shown = []
    config = SimpleNamespace(getoption=lambda name: name == "--yes", pluginmanager=SimpleNamespace(
        get_plugin=lambda name: SimpleNamespace(write_line=shown.append)))
    session = SimpleNamespace(items=items, shouldfail=False)
    qa_plugin.confirm(config, session, identity)
    assert "real board TU-1" in shown[0] and "lumbar: up to 280 N asked" in shown[0]
    # Without --yes and without a terminal to type it at: stopped, nothing driven.
    config.getoption = lambda name: False
    monkeypatch.setattr("builtins.open", no_terminal)
    with pytest.raises(pytest.fail.Exception, match="give --yes"):
        qa_plugin.confirm(config, session, identity)
    assert "give --yes" in session.shouldfail


def item(fixtures, phases=None, skipped=False):
    return SimpleNamespace(fixturenames=fixtures, callspec=SimpleNamespace(params={"phases": phases} if phases
                                                                            else {}),
                           get_closest_marker=lambda name: skipped if name == "skip" else None)


def no_terminal(*args, **kwargs):
    raise OSError("no tty")
