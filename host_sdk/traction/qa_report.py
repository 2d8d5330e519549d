"""`traction qa report RUN.json`: the QA record of a hil_tests run (hil_tests/qa_plugin.py, docs/qa.md) as an
HTML report for a person to read and a Markdown traceability matrix for a design history file.

Both are rendered from the same rows (hazard_rows): each hazard of the register, the tests that name it, their
result in this run and their measured margins.
"""

import base64
import html
import io
import json
from pathlib import Path

from traction.errors import TractionError

RECORD_FORMAT = "traction-hil-run/1"
REQUIRED = ("station", "board", "software", "start_utc", "end_utc", "outcome", "counts", "tests", "hazards")
NOT_RUN = "not run"
COLOUR = {"passed": "#1a7f37", "PASS": "#1a7f37", "failed": "#cf222e", "FAIL": "#cf222e", "error": "#cf222e",
          "skipped": "#9a6700", NOT_RUN: "#6e7781"}


class QaRecordError(TractionError):
    """A QA record that cannot be read: the file and what is wrong."""


def register(subparsers):
    """Add `traction qa report` to the CLI's subcommands."""
    p = subparsers.add_parser("qa", help="the QA record of a hil_tests run")
    sub = p.add_subparsers(dest="qa_command", metavar="COMMAND", required=True)
    r = sub.add_parser("report", help="render a run's record as report.html and traceability.md")
    r.add_argument("record", metavar="RUN.json", help="the run's record (hil_tests writes "
                   "qa-runs/<time>/run.json)")
    r.add_argument("--out", metavar="DIR", help="folder for report.html and traceability.md (default: the "
                   "record's folder)")
    r.set_defaults(func=cmd_report)


def cmd_report(args, console):
    """`traction qa report`: the traceability matrix of a hil_tests run as HTML or Markdown."""
    run = load(args.record)
    out = Path(args.out) if args.out else Path(args.record).parent
    out.mkdir(parents=True, exist_ok=True)
    rows = hazard_rows(run)
    (out / "report.html").write_text(render_html(run, rows))
    (out / "traceability.md").write_text(render_markdown(run, rows, Path(args.record).name))
    console.print(f"run {run['outcome']} ({counts_text(run)}), {board_text(run)}: "
                  f"{out / 'report.html'}, {out / 'traceability.md'}")
    untested = [r["id"] for r in rows if not r["tests"]]
    console.print(f"hazards no test names: {', '.join(untested) if untested else 'none'}")
    return 0


def load(path) -> dict:
    """A run's record, checked: QaRecordError names the file and the field that is wrong."""
    try:
        run = json.loads(Path(path).read_text())
    except OSError as e:
        raise QaRecordError(f"cannot read the QA record {path}: {e.strerror}") from None
    except ValueError as e:
        raise QaRecordError(f"{path}: not JSON ({e})") from None
    if not isinstance(run, dict) or run.get("format") != RECORD_FORMAT:
        raise QaRecordError(f"{path}: 'format' must be {RECORD_FORMAT!r}: is it a hil_tests run.json?")
    for key in REQUIRED:
        if key not in run:
            raise QaRecordError(f"{path}: field '{key}' is missing")
    for i, test in enumerate(run["tests"]):
        for key in ("id", "outcome", "measurements", "hazards"):
            if key not in test:
                raise QaRecordError(f"{path}: tests[{i}]: field '{key}' is missing")
    return run


def margin(m) -> float | None:
    """How far a measurement is inside its limits (negative: outside), in its unit; None without limits."""
    sides = [m["value"] - m["low"]] if m["low"] is not None else []
    sides += [m["high"] - m["value"]] if m["high"] is not None else []
    return min(sides) if sides else None


def hazard_rows(run) -> list[dict]:
    """[{id, title, tests: [{id, outcome, margins: [text]}]}] for each hazard of the register."""
    by_id = {t["id"]: t for t in run["tests"]}
    rows = []
    for hazard in run["hazards"]:
        tests = []
        for test_id in hazard["tests"]:
            test = by_id.get(test_id)
            margins = [f"{m['name']} {m['value']:g} {m['unit']}, margin {margin(m):g} {m['unit']}"
                       for m in (test["measurements"] if test else []) if margin(m) is not None]
            tests.append({"id": test_id, "outcome": test["outcome"] if test else NOT_RUN, "margins": margins})
        rows.append({"id": hazard["id"], "title": hazard["title"], "tests": tests})
    return rows


def counts_text(run) -> str:
    """How many tests passed, failed, skipped, ... in one line."""
    return ", ".join(f"{n} {k}" for k, n in run["counts"].items() if n) or "no test ran"


def board_text(run) -> str:
    """The board a run tested, in one line."""
    b = run["board"]
    if not b:
        return "no board: the run stopped before it could read one"
    return (f"board {b.get('serial')} ({b.get('kind')}, on {b.get('target')}), firmware {b.get('firmware')}, "
            f"calibrated {b.get('cal_date') or 'never'}")


def identity_rows(run) -> list[tuple[str, str]]:
    """(label, value) rows naming the board, the software and the station of a run."""
    b, s, st = run["board"], run["software"], run["station"]
    board = [("board", board_text(run).removeprefix("board "))]
    if b:
        board += [("firmware build", b.get("firmware_build") or "not reported by the board"),
                  ("maxima", f"device {b.get('hard_max_n')} N, cervical {b.get('cervical_max_n')} N, "
                             f"lumbar {b.get('lumbar_max_n')} N"),
                  ("time scale", f"x{b.get('time_scale')}"), ("state at start", str(b.get("state_at_start")))]
    return [
        *board,
        ("software", f"traction {s.get('traction')}, source {s.get('source')}, Python {s.get('python')}, "
                     f"pytest {s.get('pytest')}"),
        ("station", f"{st.get('host')} ({st.get('user')}), {st.get('platform')}"),
        ("command", " ".join(st.get("command", []))),
        ("run", f"{run['start_utc']} to {run['end_utc']} (UTC)"),
        ("JUnit XML", str(run.get("junit"))),
    ]


# ---- HTML ----
def render_html(run, rows) -> str:
    """The report as one self-contained HTML page."""
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>hil run {e(run['start_utc'])}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>Hardware-in-the-loop run: <span style='color:{COLOUR[run['outcome']]}'>"
             f"{e(run['outcome'])}</span></h1>",
             f"<p class='counts'>{e(counts_text(run))}</p>", "<h2>Summary</h2>",
             table(None, [[e(k), e(v)] for k, v in identity_rows(run)])]
    parts += ["<h2>Hazards</h2><p>Each hazard of the register (docs/safety.md), the tests that name it, "
              "their result in this run and their measured margins (inside the limit; negative: outside)."
              "</p>"]
    body = []
    for r in rows:
        tests = r["tests"] or [{"id": "no test", "outcome": "", "margins": []}]
        for i, t in enumerate(tests):
            head = [e(r["id"]), e(r["title"])] if i == 0 else ["", ""]
            body.append(head + [f"<code>{e(t['id'])}</code>", verdict(t["outcome"]),
                                "<br>".join(e(m) for m in t["margins"])])
    parts.append(table(["hazard", "", "test", "result", "measured margins"], body))
    parts.append("<h2>Measurements</h2>")
    body = [[f"<code>{e(t['id'])}</code>", e(m["name"]), f"{m['value']:g} {e(m['unit'])}", limit_text(m),
             "" if margin(m) is None else f"{margin(m):g}", verdict(m["verdict"])]
            for t in run["tests"] for m in t["measurements"]]
    parts.append(table(["test", "measurement", "value", "limits", "margin", "verdict"], body)
                 if body else "<p>none recorded</p>")
    parts.append("<h2>Tests</h2>")
    parts.append(table(["test", "result", "s", "hazards", "message"], [
        [f"<code>{e(t['id'])}</code>", verdict(t["outcome"]), f"{t.get('duration_s', 0):.1f}",
         e(", ".join(t["hazards"])), e(t.get("message") or "")] for t in run["tests"]]))
    plots = [(t, s) for t in run["tests"] for s in t.get("sessions", [])]
    if plots:
        parts.append("<h2>Force against time</h2>")
    for t, s in plots:
        parts.append(f"<figure><img alt='force against time' src='data:image/png;base64,{plot_png(s)}'>"
                     f"<figcaption><code>{e(t['id'])}</code>: {e(s['treatment'])}, session "
                     f"{s['session_id']}</figcaption></figure>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def table(head, body) -> str:
    """An HTML table of already escaped cells; head None: no header row."""
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
    top = f"<tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>" if head else ""
    return f"<table>{top}{rows}</table>"


def verdict(text) -> str:
    """A verdict (PASS, FAIL, ...) in its colour, HTML-escaped."""
    return f"<b style='color:{COLOUR.get(text, 'inherit')}'>{html.escape(text)}</b>" if text else ""


def limit_text(m) -> str:
    """A measurement's acceptance limits as text (low..high unit, or one side)."""
    low, high, unit = m["low"], m["high"], m["unit"]
    if low is not None and high is not None:
        return f"{low:g} .. {high:g} {html.escape(unit)}"
    if low is not None:
        return f"&ge; {low:g} {html.escape(unit)}"
    return f"&le; {high:g} {html.escape(unit)}" if high is not None else "none"


def plot_png(session) -> str:
    """A session's force chart as a base64 PNG for the report."""
    from traction.plot import plot_session

    buf = io.BytesIO()
    plot_session(session["telemetry"], session["events"], buf, title=session["treatment"])
    return base64.b64encode(buf.getvalue()).decode("ascii")


CSS = """body{font-family:sans-serif;margin:2em;max-width:80em;color:#1f2328}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #d0d7de;padding:3px 8px;
text-align:left;vertical-align:top;font-size:0.9em}th{background:#f6f8fa}code{font-size:0.85em}
.counts{font-size:1.2em}figure{margin:1em 0}img{max-width:100%}"""


# ---- Markdown ----
def render_markdown(run, rows, record_name) -> str:
    """The report as Markdown, linking the record it came from."""
    lines = [f"# Traceability matrix: hil run of {run['start_utc']}", "",
             f"Record `{record_name}`: **{run['outcome']}** ({counts_text(run)}); {board_text(run)}; "
             f"software source {run['software'].get('source')}.", "",
             "| hazard | | test | result | measured margins |", "|---|---|---|---|---|"]
    for r in rows:
        for i, t in enumerate(r["tests"] or [{"id": "no test", "outcome": "", "margins": []}]):
            head = f"| {r['id']} | {r['title']} |" if i == 0 else "| | |"
            lines.append(f"{head} `{t['id']}` | {t['outcome']} | {'<br>'.join(t['margins'])} |")
    untested = [r["id"] for r in rows if not r["tests"]]
    unrun = [r["id"] for r in rows if r["tests"] and all(t["outcome"] == NOT_RUN for t in r["tests"])]
    lines += ["", f"Hazards no test names: {', '.join(untested) if untested else 'none'}.",
              f"Hazards with tests, none of them in this run: {', '.join(unrun) if unrun else 'none'}.", ""]
    return "\n".join(lines)
