"""Exports: FHIR R4B (validated by fhir.resources), X12 837P (validated by pyx12), CSV, note, demo files."""

import base64
import csv
import io
import json
from datetime import datetime, timedelta
from importlib import resources

import pytest
import record_factory as factory
from billing_cases import SCENARIOS, SUPERVISOR, pyx12_check
from fhir.resources.R4B.bundle import Bundle
from traction.billing import bill, csv_line, demo_outputs, fhir, note, x12
from traction.billing.rules import load as load_rules
from traction.billing.x12 import ExportError
from traction.record import verify


def summary(changes=None, drop=(), records=None):
    return bill(records or [verify(factory.session(), factory.KEY)], factory.context(changes, drop))


def resources_of(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_fhir_bundle_validates_and_carries_the_claim():
    data = fhir.bundle(summary())
    Bundle.model_validate(data)
    (claim,) = resources_of(data, "Claim")
    assert claim["status"] == "active"
    first = claim["item"][0]
    assert first["productOrService"]["coding"] == [
        {"system": "http://www.ama-assn.org/go/cpt", "code": "97012"}
    ]
    assert [m["coding"][0]["code"] for m in first["modifier"]] == ["GP"]
    assert first["quantity"]["value"] == 1 and first["servicedDate"] == "2026-07-08"
    assert first["diagnosisSequence"] == [1, 2]
    assert [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in claim["diagnosis"]] == [
        "M54.16",
        "M51.26",
    ]
    assert claim["total"]["value"] == 169.0


def test_fhir_procedure_observations_device_and_provenance():
    data = fhir.bundle(summary())
    (procedure,) = resources_of(data, "Procedure")
    assert procedure["status"] == "completed"
    assert procedure["bodySite"][0]["coding"][0]["code"] == "122496007"
    assert procedure["performedPeriod"]["start"] == "2026-07-08T09:30:00Z"
    observations = {
        o["code"]["coding"][0]["code"]: o["valueQuantity"] for o in resources_of(data, "Observation")
    }
    assert observations["traction-force-mean"] == {
        "value": 299.6,
        "unit": "N",
        "system": "http://unitsofmeasure.org",
        "code": "N",
    }
    assert observations["traction-angle"]["value"] == 15.0
    assert observations["treatment-time"]["value"] == 10.0
    (device,) = resources_of(data, "Device")
    assert device["serialNumber"] == "TU-000123"
    device_sig, clinician_sig = resources_of(data, "Provenance")
    mac = verify(factory.session(), factory.KEY).mac
    assert base64.b64decode(device_sig["signature"][0]["data"]) == bytes.fromhex(mac)
    assert device_sig["signature"][0]["who"]["reference"] == next(
        e["fullUrl"] for e in data["entry"] if e["resource"]["resourceType"] == "Device"
    )
    assert clinician_sig["agent"][0]["type"]["coding"][0]["code"] == "attester"


def test_fhir_bundle_is_reproducible():
    assert fhir.bundle(summary()) == fhir.bundle(summary())


def test_fhir_refused_session_has_no_claim_and_a_not_done_procedure():
    records = [verify(factory.session(cut_at_ms=2000, reason="FAULT", fault="ADC_SILENT"), factory.KEY)]
    data = fhir.bundle(summary(records=records, changes={"other_services": []}))
    Bundle.model_validate(data)
    assert resources_of(data, "Claim") == []
    assert resources_of(data, "Procedure")[0]["status"] == "not-done"


def test_fhir_draft_claim_when_not_billing_ready_and_cq_for_a_pta():
    supervisor = {"name": "SAM PARK", "npi": "1728394655", "provider_type": "PT"}
    data = fhir.bundle(
        summary(
            changes={"rendering.provider_type": "PTA", "supervising": supervisor},
            drop=["treatment.patient_response"],
        )
    )
    Bundle.model_validate(data)
    (claim,) = resources_of(data, "Claim")
    assert claim["status"] == "draft"
    assert [m["coding"][0]["code"] for m in claim["item"][0]["modifier"]] == ["GP", "CQ"]
    by_url = {e["fullUrl"]: e["resource"] for e in data["entry"]}
    team = [(by_url[c["provider"]["reference"]], c["role"]["coding"][0]["code"]) for c in claim["careTeam"]]
    # Medicare: the supervising PT renders the claim, the PTA assists
    assert [(p["identifier"][0]["value"], code) for p, code in team] == [("1728394655", "primary"),
                                                                        ("1234567893", "assist")]


@pytest.mark.parametrize(
    ("changes", "coding", "text"),
    [
        ({}, [{"system": fhir.CPT, "code": "97012"}], "Mechanical traction"),
        (
            {"payer.profile": "commercial", "treatment.device_type": "decompression"},
            [{"system": fhir.HCPCS, "code": "S9090"}],
            "Vertebral axial decompression",
        ),
        ({"treatment.device_type": "decompression"}, None, "Traction (decompression / VAX-D table)"),
        ({"treatment.device_type": "roller_table"}, None, "Traction (roller table)"),
        ({"treatment.device_type": "y_strap"}, None, "Traction (Y-strap)"),
        ({"treatment.device_type": "manual"}, None, "Traction (manual traction)"),
    ],
)
def test_fhir_procedure_is_coded_with_what_was_billed(changes, coding, text):
    data = fhir.bundle(summary(changes))
    Bundle.model_validate(data)
    (procedure,) = resources_of(data, "Procedure")
    assert procedure["code"].get("coding") == coding
    assert procedure["code"]["text"].startswith(text)


def test_fhir_procedure_of_a_session_refused_for_no_force_is_not_coded_97012():
    aborted = verify(factory.session(cut_at_ms=3_000, reason="FAULT", fault="SLACK"), factory.KEY)
    (procedure,) = resources_of(fhir.bundle(summary(records=[aborted])), "Procedure")
    assert procedure["status"] == "not-done" and "coding" not in procedure["code"]


def test_837p_validates_with_pyx12():
    text = x12.interchange(summary())
    valid, errors = pyx12_check(text)
    assert valid and errors == []
    assert "SV1*HC:97012:GP*45*UN*1***1:2~" in text
    assert "DTP*472*D8*20260708~" in text
    assert "HI*ABK:M5416*ABF:M5126~" in text
    assert "SBR*P*18*******MB~" in text


def test_837p_claim_filing_indicator_comes_from_the_payer_profile(tmp_path):
    shipped = resources.files("traction.billing") / "rules" / "payer_commercial.json"
    profile = json.loads(shipped.read_text())
    profile.update(id="blue", name="BLUE PLAN", claim_filing_indicator="BL")
    (tmp_path / "payer_blue.json").write_text(json.dumps(profile))
    records = [verify(factory.session(), factory.KEY)]
    s = bill(records, factory.context({"payer.profile": "blue"}), load_rules([tmp_path]))
    assert s["payer"]["claim_filing_indicator"] == "BL"
    text = x12.interchange(s)
    assert "SBR*P*18*******BL~" in text and pyx12_check(text)[0]
    assert "SBR*P*18*******CI~" in x12.interchange(summary({"payer.profile": "commercial"}))


def test_837p_with_modifiers_supervisor_and_manual_therapy_validates():
    supervisor = {"name": "SAM PARK", "npi": "1728394655", "provider_type": "PT"}
    s = summary(
        changes={
            "rendering.provider_type": "PTA",
            "supervising": supervisor,
            "other_services": [{"code": "97140", "units": 1, "minutes": 12}],
            "therapy_spend.year_to_date": 2480.0,
        }
    )
    text = x12.interchange(s, control_number=42, production=True)
    valid, errors = pyx12_check(text)
    assert valid and errors == []
    assert "SV1*HC:97012:GP:CQ:KX*45*UN*1***1:2~" in text
    assert "SV1*HC:97140:XS:GP:CQ:KX*58*UN*1***1:2~" in text
    # Medicare does not enroll PTAs: the supervising PT renders the claim (2310B), and no 2310D
    assert "NM1*82*1*PARK*SAM****XX*1728394655~" in text
    assert "NM1*DQ" not in text and "1234567893" not in text
    assert "*000000042*0*P*:~" in text


def test_837p_a_pta_renders_for_a_payer_that_enrolls_assistants():
    changes = {"rendering.provider_type": "PTA", "supervising": SUPERVISOR, "payer.profile": "commercial"}
    text = x12.interchange(summary(changes=changes), control_number=42)
    assert pyx12_check(text) == (True, [])
    assert "NM1*82*1*LEE*JORDAN****XX*1234567893~" in text
    assert "NM1*DQ*1*PARK*SAM****XX*1728394655~" in text


@pytest.mark.parametrize("name", [n for n, case in SCENARIOS.items() if case["ready"]])
def test_exports_validate_across_scenarios(name):
    s = summary(changes=SCENARIOS[name]["changes"], drop=SCENARIOS[name]["drop"],
                records=SCENARIOS[name]["records"]())
    assert s["billing_ready"], s["blocking"]
    Bundle.model_validate(fhir.bundle(s))
    assert pyx12_check(x12.interchange(s)) == (True, [])
    assert len(list(csv.DictReader(io.StringIO(csv_line.text(s))))) == len(s["lines"])


def test_pyx12_catches_a_broken_837p():
    # Proves the check above can fail: a service line without its units is not a valid 837P.
    text = x12.interchange(summary()).replace(
        "SV1*HC:97012:GP*45*UN*1***1:2~", "SV1*HC:97012:GP*45*UN****1:2~"
    )
    valid, errors = pyx12_check(text)
    assert not valid and any("SV104" in e["err_str"] for e in errors)


def test_837p_is_refused_when_not_billing_ready():
    with pytest.raises(ExportError, match="not billing-ready: documentation missing: clinician signature"):
        x12.interchange(summary(drop=["signature"]))


def test_837p_names_missing_claim_data():
    with pytest.raises(ExportError, match="needs patient.member_id"):
        x12.interchange(summary(drop=["patient.member_id"]))
    with pytest.raises(ExportError, match="needs a fee for 97012"):
        x12.interchange(summary(changes={"fees": {"97110": 62.0}}))


def test_csv_rows_for_practice_management():
    rows = list(csv.DictReader(io.StringIO(csv_line.text(summary()))))
    assert [r["cpt"] for r in rows] == ["97012", "97110"]
    first = rows[0]
    assert (first["date_of_service"], first["modifiers"], first["units"], first["diagnosis_pointers"]) == (
        "2026-07-08",
        "GP",
        "1",
        "1 2",
    )
    assert first["rendering_npi"] == "1234567893" and first["billing_ready"] == "yes"
    assert first["diagnoses"] == "M54.16 M51.26" and first["minutes"] == "10"
    pta = {"rendering.provider_type": "PTA", "supervising": SUPERVISOR}
    (medicare, _) = csv.DictReader(io.StringIO(csv_line.text(summary(changes=pta))))
    assert medicare["rendering_npi"] == medicare["supervising_npi"] == "1728394655"  # as the claim says


def test_note_separates_device_facts_from_clinician_entries():
    text = note.markdown(summary(), chart_path="force.png")
    device_part, clinician_part = text.split("## Clinician documentation")
    assert "300.0 N (67.4 lbf)" in device_part and "Angle of pull: 15 deg" in device_part
    assert "![Force over time](force.png)" in device_part
    assert "Patient response: Tolerated well" in clinician_part
    assert "| 97012 | GP | 1 | 10 | 1, 2 |" in clinician_part
    assert "Status: billing-ready" in text and "Signed: JORDAN LEE, PT, DPT" in text


def test_note_marks_missing_items_and_leaves_a_signature_line():
    text = note.markdown(summary(drop=["signature", "treatment.patient_response"]))
    assert "Patient response: **missing**" in text
    assert "Clinician signature: ______" in text
    assert "NOT billing-ready" in text


def test_note_shows_traction_elements_as_not_required_without_a_traction_line():
    aborted = verify(factory.session(cut_at_ms=3_000, reason="FAULT", fault="SLACK"), factory.KEY)
    text = note.markdown(summary(records=[aborted]))
    assert "- force: none, not required (no traction line billed) (device record (measured))" in text
    assert "Status: billing-ready" in text


def test_demo_outputs_write_valid_files(tmp_path):
    (tmp_path / "force.png").write_bytes(b"png")
    record = verify(factory.session(utc_start_s=1_773_000_000), factory.KEY)  # 2026-03-08: a different day
    paths = demo_outputs(record, tmp_path)
    assert sorted(p.name for p in paths) == [
        "claim.837",
        "claim.csv",
        "claim.fhir.json",
        "note.md",
        "summary.json",
    ]
    billing = json.loads((tmp_path / "summary.json").read_text())
    assert billing["billing_ready"] and billing["date_of_service"] == "2026-03-08"
    signed = datetime.fromisoformat(billing["clinician_context"]["data"]["signature"]["signed_at"])
    assert signed > record.utc_start + timedelta(milliseconds=record.end["end_ms"])
    assert not [w for w in billing["warnings"] if w["rule"] == "PLAN-OF-CARE"]
    Bundle.model_validate(json.loads((tmp_path / "claim.fhir.json").read_text()))
    assert pyx12_check((tmp_path / "claim.837").read_text()) == (True, [])
    assert "![Force over time](force.png)" in (tmp_path / "note.md").read_text()
