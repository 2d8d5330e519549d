"""traction qa report: a bad record is refused naming the file and field; margins; the matrix's rows."""

import json
import re

import pytest
from traction.cli import main
from traction.qa_report import QaRecordError, hazard_rows, load, margin, render_markdown

RUN = {
    "format": "traction-hil-run/1", "station": {}, "board": {"serial": "TU-1", "kind": "real"},
    "software": {"source": "abc"}, "start_utc": "2026-12-01T10:00:00+00:00",
    "end_utc": "2026-12-01T10:20:00+00:00", "outcome": "FAIL", "counts": {"passed": 1, "failed": 1},
    "tests": [
        {"id": "t.py::test_a", "outcome": "passed", "hazards": ["H-01"], "measurements": [
            {"name": "peak", "value": 302.0, "unit": "N", "low": None, "high": 315.0, "verdict": "PASS"}]},
        {"id": "t.py::test_b", "outcome": "failed", "hazards": ["H-01"], "measurements": [
            {"name": "err", "value": -6.0, "unit": "N", "low": -5.0, "high": 5.0, "verdict": "FAIL"}]},
    ],
    "hazards": [
        {"id": "H-01", "title": "Over-force", "tests": ["t.py::test_a", "t.py::test_b", "f.py::test_c"]},
        {"id": "H-02", "title": "Untested", "tests": []}],
}


def write(tmp_path, run):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run))
    return path


def test_rows_give_each_test_its_result_and_margins_and_keep_untested_hazards():
    rows = hazard_rows(RUN)
    assert [r["id"] for r in rows] == ["H-01", "H-02"]
    a, b, c = rows[0]["tests"]
    assert (a["outcome"], a["margins"]) == ("passed", ["peak 302 N, margin 13 N"])
    assert (b["outcome"], b["margins"]) == ("failed", ["err -6 N, margin -1 N"])
    assert c["outcome"] == "not run" and rows[1]["tests"] == []
    md = render_markdown(RUN, rows, "run.json")
    assert "Hazards no test names: H-02." in md and "| H-02 | Untested | `no test` |" in md
    assert margin({"value": 1.0, "low": None, "high": None}) is None


@pytest.mark.parametrize("damage, message", [
    (lambda r: r.pop("board"), "field 'board' is missing"),
    (lambda r: r["tests"][1].pop("outcome"), "tests[1]: field 'outcome' is missing"),
    (lambda r: r.update(format="other"), "'format' must be"),
])
def test_a_bad_record_is_refused_naming_the_file_and_field(tmp_path, damage, message):
    run = json.loads(json.dumps(RUN))
    damage(run)
    path = write(tmp_path, run)
    with pytest.raises(QaRecordError, match=re.escape(message)) as refused:
        load(path)
    assert str(path) in str(refused.value)


def test_the_command_writes_both_files_and_fails_cleanly_on_a_bad_file(tmp_path, capsys):
    assert main(["qa", "report", str(write(tmp_path, RUN)), "--out", str(tmp_path / "out")]) == 0
    assert "Over-force" in (tmp_path / "out" / "report.html").read_text()
    assert "| H-01 | Over-force |" in (tmp_path / "out" / "traceability.md").read_text()
    (tmp_path / "bad.json").write_text("{")
    assert main(["qa", "report", str(tmp_path / "bad.json")]) == 1
    assert "bad.json: not JSON" in capsys.readouterr().err


def test_a_run_that_never_reached_a_board_still_renders(tmp_path):
    run = {**RUN, "board": None, "tests": [], "counts": {"error": 1}}
    assert main(["qa", "report", str(write(tmp_path, run))]) == 0
    assert "no board: the run stopped before it could read one" in (tmp_path / "report.html").read_text()
    assert "| H-01 | Over-force | `t.py::test_a` | not run |" in (tmp_path / "traceability.md").read_text()
