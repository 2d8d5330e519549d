"""Billing outputs for `traction demo`: its lumbar session billed with examples/context_example.toml."""

import json
from datetime import date, datetime, timedelta
from pathlib import Path

from traction.billing import csv_line, fhir, note, x12
from traction.billing.claim import bill
from traction.billing.context import Context
from traction.billing.context import load as load_context
from traction.resources import resource

EXAMPLE_CONTEXT = "examples/context_example.toml"  # a traction.resources name


def demo_outputs(record, out_dir, chart_path=None) -> list:
    """Write summary.json, claim.fhir.json, claim.837 (when billing-ready), claim.csv and note.md."""
    out = Path(out_dir)
    if chart_path is None and (out / "force.png").exists():
        chart_path = "force.png"
    context = same_day(load_context(resource(EXAMPLE_CONTEXT)), record)
    summary = bill([record], context)
    written = {
        "summary.json": json.dumps(summary, indent=2) + "\n",
        "claim.fhir.json": json.dumps(fhir.bundle(summary), indent=2) + "\n",
        "claim.csv": csv_line.text(summary),
        "note.md": note.markdown(summary, chart_path),
    }
    if summary["billing_ready"]:
        written["claim.837"] = x12.interchange(summary)
    paths = []
    for name, text in written.items():
        (out / name).write_text(text, encoding="utf-8")
        paths.append(out / name)
    return paths


def same_day(context: Context, record) -> Context:
    """The example context moved to the session's date: its plan of care and signature are dated for the
    example's own day; the demo runs on any day, and a note signed just after the treatment is what the
    example shows (a signature older than the session would not cover it)."""
    if record.utc_start is None:
        return context
    signed = datetime.fromisoformat(context.data["signature"]["signed_at"])
    shift = record.utc_start.astimezone(context.time_zone).date() - signed.date()
    data = json.loads(json.dumps(context.data))
    signed_at = (record.utc_end + timedelta(minutes=5)).astimezone(context.time_zone)
    data["signature"]["signed_at"] = signed_at.isoformat(timespec="seconds")
    plan = data.get("plan_of_care", {})
    for key in ("certified_on", "certified_through"):
        if key in plan:
            plan[key] = (date.fromisoformat(plan[key]) + shift).isoformat()
    return Context(data, context.name)
