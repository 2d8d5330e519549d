"""FHIR R4B Bundle of a billing summary: Patient, Practitioners, Organizations, Coverage, Device, one
Procedure per session with Observations for force, angle and time, the Claim, and Provenance.

The device's HMAC seal goes into a Provenance signature over what it measured (Procedure, Observations);
the clinician's sign-off is a second Provenance. fhir.resources checks structure only, so codes and
pointers are produced from the checked billing summary, never typed here. Ids are UUIDs derived from the
record seals, so the same records give the same Bundle.
"""

import base64
import uuid
from datetime import UTC, datetime, timedelta

from traction.billing.context import DEVICE_TYPES

CPT = "http://www.ama-assn.org/go/cpt"
TEAM_ROLE = "http://terminology.hl7.org/CodeSystem/claimcareteamrole"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
NPI = "http://hl7.org/fhir/sid/us-npi"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
MEASURE = "urn:traction-unit:measure"
SIGNATURE_TYPES = "urn:iso-astm:E1762-95:2013"
BODY_SITES = {
    "cervical": ("122494005", "Cervical spine structure"),
    "lumbar": ("122496007", "Lumbar spine structure"),
}
SEX = {"F": "female", "M": "male", "U": "unknown"}
TRACTION_CODES = (
    ("97012", CPT, "Mechanical traction"),
    ("S9090", HCPCS, "Vertebral axial decompression"),
)


def bundle(summary: dict) -> dict:
    """The Bundle (type collection) as a JSON-ready dict."""
    ids = _Ids(summary)
    context = summary["clinician_context"]["data"]
    entries = [
        _patient(ids, context),
        *_practitioners(ids, context),
        *_organizations(ids, context),
        _coverage(ids, context),
        _device(ids, summary),
    ]
    if context.get("referring") and summary["lines"]:
        entries.append(_referral(ids, context))
    measured = []
    for index, session in enumerate(summary["sessions"]):
        procedure = _procedure(ids, index, session, summary, context)
        observations = _observations(ids, index, session)
        entries += [procedure, *observations]
        measured += [procedure, *observations]
    if summary["lines"]:
        entries.append(_claim(ids, summary, context))
    entries.append(_device_provenance(ids, summary, measured))
    if context.get("signature"):
        entries.append(_clinician_provenance(ids, summary, context, measured))
    result = {
        "resourceType": "Bundle",
        "id": ids.plain("bundle"),
        "type": "collection",
        "timestamp": _instant(summary),
        "entry": entries,
    }
    _validate(result)
    return result


def _validate(result: dict) -> None:
    """Check the Bundle against the FHIR R4B models (fhir.resources) before anyone writes it: a structural
    mistake here is a bug, raised as ValueError with the fields pydantic names."""
    from fhir.resources.R4B.bundle import Bundle  # pydantic models: slow to import, only when billing

    Bundle.model_validate(result)


class _Ids:
    def __init__(self, summary: dict):
        self.seed = "|".join(s["record"]["seal"]["mac"] for s in summary["sessions"])

    def plain(self, name: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"traction:{self.seed}:{name}"))

    def url(self, name: str) -> str:
        return f"urn:uuid:{self.plain(name)}"

    def ref(self, name: str) -> dict:
        return {"reference": self.url(name)}


def _entry(ids: _Ids, name: str, resource: dict) -> dict:
    return {"fullUrl": ids.url(name), "resource": {**resource, "id": ids.plain(name)}}


def _patient(ids: _Ids, context: dict) -> dict:
    patient = context.get("patient", {})
    resource = {
        "resourceType": "Patient",
        "identifier": [{"type": {"text": "medical record number"}, "value": patient.get("reference", "")}],
    }
    if patient.get("last_name"):
        name = {"family": patient["last_name"]}
        if patient.get("first_name"):
            name["given"] = [patient["first_name"]]
        resource["name"] = [name]
    if patient.get("sex") in SEX:
        resource["gender"] = SEX[patient["sex"]]
    if patient.get("birth_date"):
        resource["birthDate"] = patient["birth_date"]
    return _entry(ids, "patient", resource)


def _practitioners(ids: _Ids, context: dict) -> list:
    out = []
    for role in ("rendering", "supervising", "referring"):
        person = context.get(role)
        if person:
            resource = {
                "resourceType": "Practitioner",
                "identifier": [{"system": NPI, "value": person["npi"]}],
                "name": [{"text": person["name"]}],
            }
            if person.get("provider_type"):
                resource["qualification"] = [{"code": {"text": person["provider_type"]}}]
            out.append(_entry(ids, role, resource))
    return out


def _referral(ids: _Ids, context: dict) -> dict:
    """The certified plan of care as the Claim's referral: the certifying physician/NPP requested it."""
    plan = context.get("plan_of_care", {})
    resource = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "code": {"text": "Physical therapy plan of care, certified by the referring physician/NPP"},
        "subject": ids.ref("patient"),
        "requester": ids.ref("referring"),
    }
    if plan.get("certified_on"):
        resource["authoredOn"] = plan["certified_on"]
        if plan.get("certified_through"):
            resource["occurrencePeriod"] = {"start": plan["certified_on"], "end": plan["certified_through"]}
    return _entry(ids, "referral", resource)


def _organizations(ids: _Ids, context: dict) -> list:
    out = []
    provider = context.get("billing_provider")
    if provider:
        out.append(
            _entry(
                ids,
                "billing_provider",
                {
                    "resourceType": "Organization",
                    "name": provider["name"],
                    "identifier": [{"system": NPI, "value": provider["npi"]}],
                },
            )
        )
    payer = context["payer"]
    out.append(
        _entry(
            ids,
            "payer",
            {
                "resourceType": "Organization",
                "name": payer.get("name", payer["profile"]),
                "identifier": [
                    {"type": {"text": "payer id"}, "value": payer.get("payer_id", payer["profile"])}
                ],
            },
        )
    )
    return out


def _coverage(ids: _Ids, context: dict) -> dict:
    resource = {
        "resourceType": "Coverage",
        "status": "active",
        "beneficiary": ids.ref("patient"),
        "payor": [ids.ref("payer")],
    }
    member = context.get("patient", {}).get("member_id")
    if member:
        resource["subscriberId"] = member
    return _entry(ids, "coverage", resource)


def _device(ids: _Ids, summary: dict) -> dict:
    device = summary["sessions"][0]["device"]
    description = summary["clinician_context"]["data"]["treatment"].get(
        "device_description", "mechanical traction unit"
    )
    return _entry(
        ids,
        "device",
        {
            "resourceType": "Device",
            "serialNumber": device["serial"],
            "deviceName": [{"name": description, "type": "user-friendly-name"}],
            "type": {"text": "Powered traction equipment (21 CFR 890.5900)"},
            "version": [{"type": {"text": "firmware"}, "value": device["fw"]}],
            "note": [
                {"text": f"board: {device['board']}; load cell calibrated {device['cal_date'] or 'never'}"}
            ],
        },
    )


def _procedure(ids: _Ids, index: int, session: dict, summary: dict, context: dict) -> dict:
    delivered = session["hold_s"] > 0
    status = (
        "not-done"
        if not delivered
        else ("completed" if session["end"]["reason"] == "COMPLETED" else "stopped")
    )
    code, display = BODY_SITES[session["region"]]
    resource = {
        "resourceType": "Procedure",
        "status": status,
        "code": _procedure_code(summary, context),
        "subject": ids.ref("patient"),
        "bodySite": [{"coding": [{"system": SNOMED, "code": code, "display": display}]}],
        "usedReference": [ids.ref("device")],
        "performer": [{"actor": ids.ref("rendering")}],
        "reasonCode": [
            {"coding": [{"system": ICD10CM, "code": d["code"]}]}
            for d in summary["diagnoses"]
            if d["status"] != "invalid"
        ],
        "note": [{"text": _note_text(session, context)}],
        **_performed(session, summary),
    }
    if status == "not-done":
        resource["statusReason"] = {"text": _refusal(session, summary)}
    return _entry(ids, f"procedure-{index}", resource)


def _refusal(session: dict, summary: dict) -> str:
    """Why a session was not done, as the billing summary refused it (NO-THERAPEUTIC-FORCE)."""
    what = f"record {session['record']['id']}"
    reasons = [x["reason"] for x in summary["not_billed"] if x["what"] == what]
    return reasons[0] if reasons else "no hold at therapeutic force was reached"


def _procedure_code(summary: dict, context: dict) -> dict:
    """The traction code actually billed (97012 or S9090); text only when none was (refused or not done)."""
    billed = {line["code"] for line in summary["lines"]}
    for code, system, text in TRACTION_CODES:
        if code in billed:
            return {"coding": [{"system": system, "code": code}], "text": text}
    kind = context["treatment"]["device_type"]
    return {"text": f"Traction ({DEVICE_TYPES[kind]}), no traction code billed"}


def _performed(session: dict, summary: dict) -> dict:
    if not session["utc_start"]:
        return {"performedDateTime": summary["date_of_service"]}
    start = datetime.fromisoformat(session["utc_start"].replace("Z", "+00:00"))
    end = start + timedelta(seconds=session["elapsed_s"])
    return {"performedPeriod": {"start": _iso(start), "end": _iso(end)}}


def _note_text(session: dict, context: dict) -> str:
    treatment = context.get("treatment", {})
    modes = ", ".join(p["mode"] for p in session["phases"])
    parts = [
        f"Device record {session['record']['id']}: {session['region']} {modes}, "
        f"angle {_angle_text(session['angle_deg'])}, {session['treatment_s'] / 60:.1f} min, "
        f"ended {session['end']['reason'].lower()}."
    ]
    for key, label in (("patient_position", "Position"), ("patient_response", "Response")):
        if treatment.get(key):
            parts.append(f"{label} (clinician): {treatment[key]}")
    return " ".join(parts)


def _angle_text(degrees) -> str:
    return "not entered" if degrees is None else f"{degrees:g} deg (set)"


def _observations(ids: _Ids, index: int, session: dict) -> list:
    measures = [
        ("traction-force-mean", "Mean traction force over holds", _mean_force(session), "N", "N"),
        ("traction-force-peak", "Peak traction force", session["peak_n"], "N", "N"),
        ("treatment-time", "Treatment time", round(session["treatment_s"] / 60, 2), "min", "min"),
        (
            "time-under-traction",
            "Time under traction (force >= 5 N)",
            round(session["time_under_traction_s"] / 60, 2),
            "min",
            "min",
        ),
    ]
    measured = {"device": ids.ref("device")}
    out = [_observation(ids, index, session, *m, how=measured) for m in measures]
    if session["angle_deg"] is not None:
        # The angle is a setting the clinician entered, sealed in the record: the device did not measure it.
        setting = {"method": {"text": "setting entered by the clinician in the treatment file, sealed in the "
                                      "device record; not measured by the device"}}
        out.append(_observation(ids, index, session, "traction-angle", "Angle of pull", session["angle_deg"],
                                "deg", "deg", setting))
    return out


def _observation(ids: _Ids, index: int, session: dict, code, text, value, unit, ucum, how: dict) -> dict:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": MEASURE, "code": code, "display": text}], "text": text},
        "subject": ids.ref("patient"),
        "partOf": [ids.ref(f"procedure-{index}")],
        **how,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": ucum},
    }
    if session["utc_start"]:
        resource["effectiveDateTime"] = session["utc_start"]
    return _entry(ids, f"observation-{index}-{code}", resource)


def _mean_force(session: dict) -> float:
    """Hold-time-weighted mean force over the session's holds (0 when none was reached)."""
    holds = [h for p in session["phases"] for h in p["holds"]]
    total = sum(h["s"] for h in holds)
    return round(sum(h["mean_n"] * h["s"] for h in holds) / total, 1) if total else 0.0


def _claim(ids: _Ids, summary: dict, context: dict) -> dict:
    # The claim's primary is whoever renders it: the supervising PT when the payer bills a PTA's service
    # under the supervisor (claim_rendering), the PTA then an assistant on the team.
    renders = summary["claim_rendering"]
    if renders == "supervising":
        team = [("supervising", "primary"), ("rendering", "assist")]
    else:
        team = [("rendering", "primary")]
        if context.get("supervising"):
            team.append(("supervising", "supervisor"))
    care_team = [
        {"sequence": n, "provider": ids.ref(role), "role": {"coding": [{"system": TEAM_ROLE, "code": code}]}}
        for n, (role, code) in enumerate(team, 1)
    ]
    resource = {
        "resourceType": "Claim",
        "status": "active" if summary["billing_ready"] else "draft",
        "type": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]
        },
        "use": "claim",
        "patient": ids.ref("patient"),
        "created": _instant(summary),
        "provider": ids.ref("billing_provider" if context.get("billing_provider") else renders),
        "priority": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]
        },
        "careTeam": care_team,
        "diagnosis": [
            {
                "sequence": d["sequence"],
                "diagnosisCodeableConcept": {"coding": [{"system": ICD10CM, "code": d["code"]}]},
            }
            for d in summary["diagnoses"]
        ],
        "insurance": [{"sequence": 1, "focal": True, "coverage": ids.ref("coverage")}],
        "item": [_item(n, line, summary, context) for n, line in enumerate(summary["lines"], start=1)],
    }
    if context.get("referring"):
        resource["referral"] = ids.ref("referral")
    total = sum(line["charge"] or 0 for line in summary["lines"])
    resource["total"] = {"value": round(total, 2), "currency": "USD"}
    return _entry(ids, "claim", resource)


def _item(sequence: int, line: dict, summary: dict, context: dict) -> dict:
    item = {
        "sequence": sequence,
        "careTeamSequence": [1],
        "diagnosisSequence": line["diagnosis_pointers"],
        "productOrService": {
            "coding": [{"system": CPT if line["code"][0].isdigit() else HCPCS, "code": line["code"]}]
        },
        "servicedDate": summary["date_of_service"],
        "quantity": {"value": line["units"]},
    }
    place = context.get("encounter", {}).get("place_of_service")
    if place:
        item["locationCodeableConcept"] = {"coding": [{"system": POS, "code": place}]}
    if line["modifiers"]:
        item["modifier"] = [
            {"coding": [{"system": CPT if m.isdigit() else HCPCS, "code": m}]} for m in line["modifiers"]
        ]
    if line["charge"] is not None:
        item["unitPrice"] = {"value": round(line["charge"] / line["units"], 2), "currency": "USD"}
        item["net"] = {"value": line["charge"], "currency": "USD"}
    return item


def _device_provenance(ids: _Ids, summary: dict, measured: list) -> dict:
    signatures = [
        {
            "type": [
                {"system": SIGNATURE_TYPES, "code": "1.2.840.10065.1.12.1.14", "display": "Source Signature"}
            ],
            "when": _instant(summary),
            "who": ids.ref("device"),
            "sigFormat": "application/hmac-sha256",
            "data": base64.b64encode(bytes.fromhex(s["record"]["seal"]["mac"])).decode(),
        }
        for s in summary["sessions"]
    ]
    return _entry(
        ids,
        "provenance-device",
        {
            "resourceType": "Provenance",
            "target": [{"reference": e["fullUrl"]} for e in measured],
            "recorded": _instant(summary),
            "agent": [
                {
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                "code": "assembler",
                            }
                        ]
                    },
                    "who": ids.ref("device"),
                }
            ],
            "entity": [
                {
                    "role": "source",
                    "what": {
                        "display": f"session record {s['record']['id']} from "
                        f"{s['device']['serial']}, HMAC-SHA256 chain head "
                        f"{s['record']['seal']['chain_head']}"
                    },
                }
                for s in summary["sessions"]
            ],
            "signature": signatures,
        },
    )


def _clinician_provenance(ids: _Ids, summary: dict, context: dict, measured: list) -> dict:
    signed_at = datetime.fromisoformat(context["signature"]["signed_at"])
    when = _iso(signed_at if signed_at.tzinfo else signed_at.replace(tzinfo=UTC))
    targets = [{"reference": e["fullUrl"]} for e in measured]
    if summary["lines"]:
        targets.append(ids.ref("claim"))
    return _entry(
        ids,
        "provenance-clinician",
        {
            "resourceType": "Provenance",
            "target": targets,
            "recorded": when,
            "agent": [
                {
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                "code": "attester",
                            }
                        ]
                    },
                    "who": ids.ref("rendering"),
                }
            ],
            "signature": [
                {
                    "type": [
                        {
                            "system": SIGNATURE_TYPES,
                            "code": "1.2.840.10065.1.12.1.1",
                            "display": "Author's Signature",
                        }
                    ],
                    "when": when,
                    "who": ids.ref("rendering"),
                }
            ],
        },
    )


def _instant(summary: dict) -> str:
    """The bundle's time: the latest session end, so the same records always give the same Bundle."""
    ends = []
    for s in summary["sessions"]:
        if s["utc_start"]:
            start = datetime.fromisoformat(s["utc_start"].replace("Z", "+00:00"))
            ends.append(start + timedelta(seconds=s["elapsed_s"]))
    if not ends:
        return summary["date_of_service"] + "T00:00:00Z"
    return _iso(max(ends))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
