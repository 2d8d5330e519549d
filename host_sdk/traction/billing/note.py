"""The treatment note a clinician reads and signs (Markdown), from a billing summary.

Measured facts are in their own section, marked as the device's sealed record; everything the clinician
entered is marked as theirs. The note supports the claim; it does not replace the clinician's judgement.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from traction.units import format_force


def markdown(summary: dict, chart_path: str | None = None) -> str:
    context = summary["clinician_context"]["data"]
    tz = context["encounter"]["time_zone"]
    out = [
        "# Mechanical traction treatment note",
        "",
        f"- Patient: {context.get('patient', {}).get('reference', 'not given')}",
        f"- Date of service: {summary['date_of_service']} ({tz})",
        f"- Payer: {summary['payer']['name']}",
        f"- Rendering clinician: {_person(context['rendering'])}",
    ]
    if context.get("supervising"):
        out.append(f"- Supervising clinician: {_person(context['supervising'])}")
    out += ["", "## Device record (measured and sealed by the device; not editable)", ""]
    for session in summary["sessions"]:
        out += _session(session, tz)
    if chart_path:
        out += [f"![Force over time]({chart_path})", ""]
    out += ["## Clinician documentation (entered by the clinician)", ""]
    treatment = context.get("treatment", {})
    for key, label in (
        ("device_description", "Device"),
        ("patient_position", "Patient position"),
        ("patient_response", "Patient response"),
        ("functional_progress", "Functional progress"),
        ("rationale", "Rationale"),
    ):
        out.append(f"- {label}: {treatment.get(key) or '**missing**'}")
    out += ["", "## Diagnoses (ICD-10-CM)", ""]
    for d in summary["diagnoses"]:
        problem = f" - **{d['problem']}**" if d["problem"] else ""
        out.append(f"{d['sequence']}. {d['code']} {d['title'] or ''}{problem}")
    out += ["", *_billing(summary), "", *_documentation(summary), "", *_signature(context)]
    return "\n".join(out) + "\n"


def _person(person: dict) -> str:
    return f"{person['name']}, {person['provider_type']} (NPI {person['npi']})"


def _session(session: dict, tz: str) -> list:
    device = session["device"]
    out = [
        f"### Session record {session['record']['id']} - {session['region']}",
        "",
        f"- Device: {device['serial']}, firmware {device['fw']} ({device['board']} board), "
        f"load cell calibrated {device['cal_date'] or 'never'}",
        f"- Started: {_local(session['utc_start'], tz)}",
        f"- Angle of pull: {session['angle_deg']:g} deg",
        f"- Treatment time: {session['treatment_s'] / 60:.1f} min; time under traction "
        f"{session['time_under_traction_s'] / 60:.1f} min; peak {_force(session['peak_n'])}",
        f"- Pauses: {session['pauses']['count']} ({session['pauses']['total_s']:g} s); force edits: "
        f"{len(session['edits'])}",
        f"- Ended: {session['end']['reason'].lower()}"
        + (f" (fault {session['end']['fault']})" if session["end"]["fault"] else ""),
        f"- Record seal (HMAC-SHA256): `{session['record']['seal']['mac']}`",
        "",
        "| phase | mode | set force | rest force | hold / rest | cycles | mean over holds | in tolerance |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in session["phases"]:
        done = p["delivered"]
        if done is None:
            out.append(f"| {p['index']} | {p['mode']} | {_force(p['force_n'])} | | | not reached | | |")
            continue
        tolerance = "" if done["in_tolerance_pct"] is None else f"{done['in_tolerance_pct']:g} %"
        out.append(
            f"| {p['index']} | {p['mode']} | {_force(p['force_n'])} | {_force(p['base_n'])} | "
            f"{p['hold_s']:g} s / {p['rest_s']:g} s | {done['cycles']} | {_force(done['mean_n'])} | "
            f"{tolerance} |"
        )
    return [*out, ""]


def _billing(summary: dict) -> list:
    out = [
        "## Billing",
        "",
        "| code | modifiers | units | minutes | diagnosis pointers |",
        "|---|---|---|---|---|",
    ]
    for line in summary["lines"]:
        minutes = "" if line["minutes"] is None else f"{line['minutes']:g}"
        out.append(
            f"| {line['code']} | {' '.join(line['modifiers'])} | {line['units']} | {minutes} | "
            f"{', '.join(map(str, line['diagnosis_pointers']))} |"
        )
    for item in summary["not_billed"]:
        out.append(f"\nNot billed: {item['what']}: {item['reason']} ({item['rule']}; {item['source']})")
    for warning in summary["warnings"]:
        out.append(f"\nWarning: {warning['message']} ({warning['rule']})")
    state = (
        "billing-ready"
        if summary["billing_ready"]
        else "NOT billing-ready: " + "; ".join(summary["blocking"])
    )
    return [*out, "", f"Status: {state}"]


def _documentation(summary: dict) -> list:
    out = ["## Documentation check", ""]
    for e in summary["documentation"]["elements"]:
        if e["present"]:
            mark = "present"
        else:
            mark = "**missing**" if e["required"] else "none, not required (no traction line billed)"
        out.append(f"- {e['element']}: {mark} ({e['source']})")
    return out


def _signature(context: dict) -> list:
    signature = context.get("signature")
    if not signature:
        return ["Clinician signature: ______________________  Date: __________"]
    return [f"Signed: {signature['signed_by']}, {signature['signed_at']}"]


def _force(newtons: float) -> str:
    return f"{format_force(newtons, 'N')} ({format_force(newtons, 'lbf')})"


def _local(utc_text: str | None, tz: str) -> str:
    if not utc_text:
        return "unknown (the board's clock was not set)"
    moment = datetime.fromisoformat(utc_text.replace("Z", "+00:00")).astimezone(ZoneInfo(tz))
    return moment.strftime("%Y-%m-%d %H:%M %Z")
