"""The documentation check: each element a payer audit asks of a 97012 note, present or missing.

Device elements come from the sealed record, where the settings the clinician entered in the treatment file
(region, mode, set forces, angle of pull) are told apart from what the device measured (forces delivered,
times); the rest are the clinician's entries in the context. A missing element blocks "billing-ready"
(Pub. 100-02 ch.15 s220.3: the device log supports the note, it does not replace it).
"""

from traction.billing.icd10 import normalize

MEASURED = "device record (measured)"
SETTING = "device record (setting entered by the clinician)"
CLINICIAN = "clinician"
BOTH = "device record (measured) and clinician"


def check(sessions: list, context, diagnoses: list, date_of_service, times: dict,
          traction_billed: bool = True) -> dict:
    """The elements, each present or not; the traction ones are required only when a traction line
    (97012 or S9090) is billed, and are still reported when it is not. `times`: the claim's treatment
    times (claim.treatment_times)."""
    t = traction_billed
    timed = any(x["timed"] for x in times["lines"])
    elements = [
        _element("date of service", date_of_service.isoformat(), MEASURED if _dated(sessions) else CLINICIAN),
        _element("device type", context.get("treatment.device_description"), CLINICIAN, t),
        _element("body regions", ", ".join(sorted({s["region"] for s in sessions})), SETTING, t),
        _element("mode", ", ".join(_modes(sessions)), SETTING, t),
        _element("force", _forces(sessions), MEASURED, t),
        _angle(sessions, context, t),
        _element("patient position", context.get("treatment.patient_position"), CLINICIAN, t),
        _element("duration", _duration(sessions), MEASURED, t),
        _element("total treatment time", _total(times), MEASURED if times["traction_only"] else BOTH,
                 bool(times["lines"])),
        _element("total timed-code minutes", _timed(times), CLINICIAN, timed),
        _element("patient response", context.get("treatment.patient_response"), CLINICIAN),
        _element("functional progress", context.get("treatment.functional_progress"), CLINICIAN),
        _element("rationale linked to diagnosis", _rationale(context, diagnoses), CLINICIAN),
        _element("clinician signature", _signature(context), CLINICIAN),
    ]
    missing = [e["element"] for e in elements if e["required"] and not e["present"]]
    return {"complete": not missing, "elements": elements, "missing": missing}


def _element(name: str, value, source: str, required: bool = True) -> dict:
    text = value.strip() if isinstance(value, str) else value
    return {
        "element": name,
        "present": bool(text),
        "value": text or None,
        "source": source,
        "required": required,
    }


def _angle(sessions: list, context, required: bool) -> dict:
    """The angle of pull is a setting: the treatment file's, sealed in the record, else the clinician's entry
    in the context; a session whose treatment file set none is missing it unless the context gives it."""
    if all(s["angle_deg"] is not None for s in sessions):
        return _element("angle of pull", ", ".join(f"{s['angle_deg']:g} deg" for s in sessions), SETTING,
                        required)
    stated = context.get("treatment.angle_deg")
    value = None if stated is None else f"{stated:g} deg"
    return _element("angle of pull", value, CLINICIAN, required)


def _total(times: dict) -> str | None:
    """Total treatment time (timed and untimed), None (missing) when a billed line has no minutes."""
    return None if times["total_min"] is None else f"{times['total_min']:g} min"


def _timed(times: dict) -> str | None:
    """Total timed-code minutes, None (missing) when a timed line has no minutes."""
    return None if times["timed_min"] is None else f"{times['timed_min']:g} min"


def _dated(sessions: list) -> bool:
    return all(s["utc_start"] for s in sessions)


def _modes(sessions: list) -> list:
    seen = []
    for s in sessions:
        for p in s["phases"]:
            if p["delivered"] and p["mode"] not in seen:
                seen.append(p["mode"])
    return seen


def _forces(sessions: list) -> str:
    parts = []
    for s in sessions:
        for p in s["phases"]:
            if p["delivered"] and p["delivered"]["cycles"]:
                rest = f", rest {p['base_n']:g} N" if p["mode"] in ("intermittent", "cyclic") else ""
                parts.append(
                    f"{s['region']} {p['mode']}: set {p['force_n']:g} N{rest}, "
                    f"mean over holds {p['delivered']['mean_n']:g} N"
                )
    return "; ".join(parts)


def _duration(sessions: list) -> str:
    return ", ".join(f"{s['region']} {s['treatment_s'] / 60:.1f} min" for s in sessions)


def _rationale(context, diagnoses: list) -> str | None:
    text = context.get("treatment.rationale")
    if not isinstance(text, str) or not text.strip():
        return None
    linked = [normalize(c) for c in context.get("treatment.rationale_diagnoses") or []]
    linked = linked or [d["code"] for d in diagnoses if d["code"] in text]
    listed = {d["code"] for d in diagnoses}
    linked = [code for code in linked if code in listed]
    return f"{text.strip()} [{', '.join(linked)}]" if linked else None


def _signature(context) -> str | None:
    signed_by = context.get("signature.signed_by")
    signed_at = context.get("signature.signed_at")
    return f"{signed_by}, {signed_at}" if signed_by and signed_at else None
