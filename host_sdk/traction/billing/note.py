"""The treatment note a clinician reads and signs (Markdown), from a billing summary.

The device's sealed record comes first, its settings (what the clinician entered in the treatment file and
the device was told: region, angle of pull, modes and set forces) apart from what the device measured;
everything entered in the clinical context is marked as the clinician's. The note carries what an auditor
asks for (Pub. 100-02 ch.15 s220.3): the patient's name and date of birth, the total treatment time and
the total timed-code minutes. It supports the claim; it does not replace the clinician's judgement.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from traction.units import format_force


def markdown(summary: dict, chart_path: str | None = None) -> str:
    """The treatment note a payer audit reads, as Markdown; chart_path adds the force chart as an image."""
    context = summary["clinician_context"]["data"]
    tz = context["encounter"]["time_zone"]
    out = [
        "# Mechanical traction treatment note",
        "",
        f"- Patient: {_patient(context.get('patient', {}))}",
        f"- Date of service: {summary['date_of_service']} ({tz})",
        f"- Place of service: {_place(summary)}",
        f"- Payer: {summary['payer']['name']}",
        *_clinicians(summary, context),
        f"- Total treatment time: {_total(summary['treatment_times'])}",
        f"- Total timed-code minutes: {_timed(summary['treatment_times'])}",
        "",
        "## Device record (sealed by the device; not editable)",
        "",
    ]
    for session in summary["sessions"]:
        out += _session(session, tz)
    if chart_path:
        out += [f"![Force over time]({chart_path})", ""]
    out += ["## Clinician documentation (entered by the clinician)", ""]
    treatment = context.get("treatment", {})
    if treatment.get("angle_deg") is not None:
        out.append(f"- Angle of pull: {treatment['angle_deg']:g} deg")
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


def _patient(patient: dict) -> str:
    name = ", ".join(x for x in (patient.get("last_name"), patient.get("first_name")) if x)
    born = f", born {patient['birth_date']}" if patient.get("birth_date") else ""
    return f"{name or '**name missing**'} (MRN {patient.get('reference', 'not given')}){born}"


def _place(summary: dict) -> str:
    place = summary["place_of_service"]
    if place is None:
        return "**missing**"
    return f"{place['code']} ({place['name'] or 'not a CMS code'})"


def _clinicians(summary: dict, context: dict) -> list:
    """Who furnished the service, and under whose NPI it is billed when that is someone else."""
    out = [f"- Furnished by: {_person(context['rendering'])}"]
    if summary["claim_rendering"] == "supervising":
        out.append(f"- Billed under (rendering provider on the claim): {_person(context['supervising'])}")
    elif context.get("supervising"):
        out.append(f"- Supervising clinician: {_person(context['supervising'])}")
    if context.get("referring"):
        out.append(f"- Referring / certifying physician or NPP: {_person(context['referring'])}")
    return out


def _total(times: dict) -> str:
    if not times["lines"]:
        return "none (no line billed)"
    if times["total_min"] is None:
        return "**missing** (a billed line has no minutes)"
    parts = ", ".join(f"{x['code']} {x['minutes']:g} min" for x in times["lines"])
    return f"{times['total_min']:g} min ({parts})"


def _timed(times: dict) -> str:
    if not any(x["timed"] for x in times["lines"]):
        return "0 min (no timed code billed)"
    if times["timed_min"] is None:
        return "**missing** (a timed code has no minutes)"
    return f"{times['timed_min']:g} min"


def _person(person: dict) -> str:
    kind = f", {person['provider_type']}" if person.get("provider_type") else ""
    return f"{person['name']}{kind} (NPI {person['npi']})"


def _session(session: dict, tz: str) -> list:
    device = session["device"]
    out = [
        f"### Session record {session['record']['id']} - {session['region']}",
        "",
        f"- Device: {device['serial']}, firmware {device['fw']} ({device['board']} board), "
        f"load cell calibrated {device['cal_date'] or 'never'}",
        f"- Record seal (HMAC-SHA256): `{session['record']['seal']['mac']}`",
        "",
        "Settings (entered by the clinician in the treatment file, sealed by the device):",
        "",
        f"- Region: {session['region']}",
        f"- Angle of pull: {_angle(session['angle_deg'])}",
        "",
        "Measured by the device:",
        "",
        f"- Started: {_local(session['utc_start'], tz)}",
        f"- Treatment time: {session['treatment_s'] / 60:.1f} min; time under traction "
        f"{session['time_under_traction_s'] / 60:.1f} min; peak {_force(session['peak_n'])}",
        f"- Pauses: {session['pauses']['count']} ({session['pauses']['total_s']:g} s); force edits: "
        f"{len(session['edits'])}",
        f"- Ended: {session['end']['reason'].lower()}"
        + (f" (fault {session['end']['fault']})" if session["end"]["fault"] else ""),
        "",
        "| phase | mode (set) | force (set) | rest force (set) | hold / rest (set) | cycles (measured) "
        "| mean over holds (measured) | in tolerance (measured) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in session["phases"]:
        done = p["delivered"]
        number = p["index"] + 1  # phase 1 is the first, as the treatment file and the CLI count them
        if done is None:
            out.append(f"| {number} | {p['mode']} | {_force(p['force_n'])} | | | not reached | | |")
            continue
        tolerance = "" if done["in_tolerance_pct"] is None else f"{done['in_tolerance_pct']:g} %"
        out.append(
            f"| {number} | {p['mode']} | {_force(p['force_n'])} | {_force(p['base_n'])} | "
            f"{p['hold_s']:g} s / {p['rest_s']:g} s | {done['cycles']} | {_force(done['mean_n'])} | "
            f"{tolerance} |"
        )
    return [*out, ""]


def _angle(degrees) -> str:
    if degrees is None:
        return "**not entered** (the treatment file set no angle)"
    return f"{degrees:g} deg"


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
