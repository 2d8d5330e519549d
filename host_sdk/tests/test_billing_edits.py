"""Issue 14: what a clearinghouse's front-end edits check, and the documentation an auditor asks for.

Each test names the payer profile that triggers the edit; each failed on the code before the fix.
"""

import csv
import io
import json
from datetime import date
from importlib import resources

import pytest
import record_factory as factory
from billing_cases import pyx12_check
from fhir.resources.R4B.bundle import Bundle
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from traction.billing import Context, ContextError, bill, csv_line, fhir, load_context, note, x12
from traction.cli import main
from traction.errors import TractionError
from traction.record import RecordError, verify
from traction.store import Store
from traction.treatment import Treatment
from traction_protocol import BY_NAME, EncodeError
from traction_protocol.constants import ANGLE_NOT_SET
from traction_protocol.messages import decode_payload, encode_payload

SUPERVISOR = {"name": "SAM PARK", "npi": "1728394655", "provider_type": "PT"}
EXAMPLES = factory.EXAMPLE_CONTEXT.parent


def record(**fields):
    return verify(factory.session(**fields), factory.KEY)


def billed(changes=None, drop=(), records=None, **kwargs):
    return bill(records or [record()], factory.context(changes, drop), **kwargs)


def rules_of(result, key):
    return {x["rule"] for x in result[key]}


def by_kind(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


# ---- 1. the angle of pull is a setting; one nobody entered is missing, never 0 degrees ----

def test_an_angle_not_entered_is_listed_missing_not_zero():
    result = billed(records=[record(angle_dd=None)])
    assert result["sessions"][0]["angle_deg"] is None
    assert not result["billing_ready"]
    assert "angle of pull" in result["documentation"]["missing"]
    text = note.markdown(result)
    settings, measured = text.split("Measured by the device:")
    assert "Angle of pull: **not entered**" in settings and "Angle of pull" not in measured
    assert "Angle of pull: 0" not in text
    observations = {o["code"]["coding"][0]["code"] for o in by_kind(fhir.bundle(result), "Observation")}
    assert "traction-angle" not in observations


def test_a_treatment_file_without_an_angle_sends_not_entered_and_the_record_keeps_it():
    text = (EXAMPLES / "lumbar_intermittent_15min.toml").read_text()
    without = "\n".join(line for line in text.splitlines() if not line.startswith("angle"))
    treatment = Treatment.from_toml(without)
    assert treatment.angle_deg is None
    assert any("angle not given" in w for w in treatment.warnings)
    setup = treatment.setup_message(session_id=1, telemetry_div=0)
    assert setup["angle_dd"] == ANGLE_NOT_SET
    wire = encode_payload("SETUP", setup)
    assert decode_payload(BY_NAME["SETUP"], wire)["angle_dd"] == ANGLE_NOT_SET  # the codec carries it
    with pytest.raises(EncodeError, match="angle_dd = 451 outside 0..450"):
        encode_payload("SETUP", {**setup, "angle_dd": 451})
    assert Treatment.from_toml(text).setup_message(1, 0)["angle_dd"] == 150  # 15 degrees as before


def test_an_angle_the_clinician_gives_in_the_context_fills_it_as_theirs():
    result = billed(changes={"treatment.angle_deg": 20}, records=[record(angle_dd=None)])
    (angle,) = [e for e in result["documentation"]["elements"] if e["element"] == "angle of pull"]
    assert (angle["present"], angle["value"], angle["source"]) == (True, "20 deg", "clinician")
    assert result["billing_ready"], result["blocking"]


def test_the_recorded_angle_is_a_setting_not_a_measurement():
    result = billed()
    sources = {e["element"]: e["source"] for e in result["documentation"]["elements"]}
    assert sources["angle of pull"] == "device record (setting entered by the clinician)"
    text = note.markdown(result)
    assert text.index("Angle of pull: 15 deg") < text.index("Measured by the device:")
    (angle,) = [o for o in by_kind(fhir.bundle(result), "Observation")
                if o["code"]["coding"][0]["code"] == "traction-angle"]
    assert "device" not in angle and "not measured" in angle["method"]["text"]


# ---- 2. the referring / certifying physician (Medicare) ----

def test_medicare_needs_the_certifying_physician_as_referring_provider():
    result = billed(drop=["referring"])
    assert not result["billing_ready"] and "REFERRING-PROVIDER" in rules_of(result, "errors")
    commercial = billed(changes={"payer.profile": "commercial"}, drop=["referring"])
    assert commercial["billing_ready"], commercial["blocking"]


def test_the_referring_provider_is_loop_2310a_and_the_fhir_referral():
    result = billed()
    text = x12.interchange(result)
    assert "NM1*DN*1*PATEL*MORGAN****XX*1679576722~" in text
    assert text.index("NM1*DN") < text.index("NM1*82")  # 2310A before 2310B
    bundle = fhir.bundle(result)
    (claim,) = by_kind(bundle, "Claim")
    (request,) = by_kind(bundle, "ServiceRequest")
    urls = {e["resource"]["id"]: e["fullUrl"] for e in bundle["entry"]}
    assert claim["referral"]["reference"] == urls[request["id"]]
    (referring,) = [p for p in by_kind(bundle, "Practitioner") if p["identifier"][0]["value"] == "1679576722"]
    assert request["requester"]["reference"] == urls[referring["id"]]


def test_a_referring_npi_with_a_bad_check_digit_is_refused():
    with pytest.raises(ContextError, match="referring.npi: 1679576723 fails the NPI check digit"):
        factory.context({"referring.npi": "1679576723"})


# ---- 3. place of service ----

@pytest.mark.parametrize(
    ("place", "rule", "kind"),
    [
        ("XX", None, None),  # not even a code: the context is refused
        ("98", "POS-VALID", "errors"),  # two digits, but no CMS place of service
        ("02", "POS-IN-PERSON", "errors"),  # telehealth: traction is in person
        ("10", "POS-IN-PERSON", "errors"),
        ("22", "POS-PROFESSIONAL", "warnings"),  # outpatient hospital: the hospital bills it (837I)
        ("19", "POS-PROFESSIONAL", "warnings"),
    ],
)
def test_place_of_service_is_checked_medicare(place, rule, kind):
    if rule is None:
        with pytest.raises(ContextError, match="encounter.place_of_service: 'XX' is not a 2-digit code"):
            factory.context({"encounter.place_of_service": place})
        return
    result = billed(changes={"encounter.place_of_service": place})
    assert rule in rules_of(result, kind)
    assert result["billing_ready"] is (kind == "warnings")


def test_a_missing_place_of_service_is_not_assumed_to_be_the_office():
    result = billed(drop=["encounter.place_of_service"], changes={"payer.profile": "commercial"})
    assert not result["billing_ready"] and "POS-REQUIRED" in rules_of(result, "errors")


def test_telehealth_is_fine_for_a_claim_without_traction():
    aborted = record(cut_at_ms=3_000, reason="FAULT", fault="SLACK")
    result = billed(changes={"encounter.place_of_service": "10"}, records=[aborted])
    assert [x["code"] for x in result["lines"]] == ["97110"] and result["billing_ready"], result["blocking"]


def test_the_fhir_claim_carries_the_place_of_service():
    (claim,) = by_kind(fhir.bundle(billed()), "Claim")
    for item in claim["item"]:
        assert item["locationCodeableConcept"]["coding"] == [{"system": fhir.POS, "code": "11"}]


# ---- 4. amounts and numbers (shared with issue 9, item 5) ----

@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fees.97012": float("nan")}, "fees.97012: must be an amount in dollars above 0"),
        ({"fees.97012": float("inf")}, "fees.97012: must be an amount in dollars above 0"),
        ({"fees.97012": 0}, "fees.97012: must be an amount in dollars above 0"),
        ({"fees.97012": -45.0}, "fees.97012: must be an amount in dollars above 0"),
        ({"fees.9701": 45.0}, "fees.9701: is not a 5-character"),
        ({"other_services": [{"code": "97110", "units": 1e20}]}, "other_services[0].units: must be a whole"),
        ({"other_services": [{"code": "97110", "units": 10**20}]}, "other_services[0].units: must be"),
        ({"other_services": [{"code": "97110", "minutes": float("nan")}]}, "other_services[0].minutes"),
        ({"therapy_spend.year_to_date": float("nan")}, "therapy_spend.year_to_date: must be an amount"),
        ({"treatment.angle_deg": float("nan")}, "treatment.angle_deg: must be a number of degrees"),
        ({"encounter.visit_number": 10**20}, "encounter.visit_number: must be a whole number from 1 to 999"),
    ],
)
def test_numbers_in_a_context_are_finite_positive_and_in_range(changes, message):
    with pytest.raises(ContextError, match=message.replace("[", r"\[")):
        factory.context(changes)


def test_nan_in_a_json_context_never_reaches_the_837p(tmp_path):
    data = factory.context().data
    data["fees"]["97012"] = float("nan")
    path = tmp_path / "context.json"
    path.write_text(json.dumps(data))  # writes the NaN literal Python's json reads back
    with pytest.raises(ContextError, match=f"{path}: fees.97012"):
        load_context(path)


def test_a_context_needs_its_patient(tmp_path):
    data = factory.context().data
    del data["patient"]
    path = tmp_path / "context.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ContextError, match="patient: is required"):
        load_context(path)
    with pytest.raises(ContextError, match="patient.birth_date: is required"):
        factory.context(drop=["patient.birth_date"])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"patient.birthdate": "1956-03-14"}, "patient.birthdate: unknown key: did you mean 'birth_date'?"),
        ({"encounter.place_of_servce": "11"}, "encounter.place_of_servce: unknown key: did you mean"),
        ({"fee": {"97012": 45.0}}, "fee: unknown key: did you mean 'fees'?"),
        ({"other_services": [{"code": "97110", "unit": 2}]}, r"other_services\[0\].unit: unknown key"),
        ({"treatment.angle": 15}, "treatment.angle: unknown key: did you mean 'angle_deg'?"),
    ],
)
def test_unknown_keys_are_refused_with_a_suggestion(changes, message):
    with pytest.raises(ContextError, match=message):
        factory.context(changes)


def test_the_837p_fields_are_checked_before_billing_ready():
    result = billed(drop=["patient.member_id", "payer.payer_id"])
    assert not result["billing_ready"]
    (error,) = [e for e in result["errors"] if e["rule"] == "CLAIM-DATA"]
    assert error["message"] == "the claim needs patient.member_id, payer.payer_id in the context"


def test_a_line_points_to_at_most_four_diagnoses_and_says_so_commercial():
    codes = ["M54.16", "M51.26", "M54.17", "M54.50", "M54.2"]
    result = billed(changes={"payer.profile": "commercial", "diagnoses": [{"code": c} for c in codes],
                             "treatment.rationale_diagnoses": codes})
    assert all(x["diagnosis_pointers"] == [1, 2, 3, 4] for x in result["lines"])
    assert "ICD-POINTER" in rules_of(result, "warnings") and result["billing_ready"], result["blocking"]
    assert "SV1*HC:97012:GP*45*UN*1***1:2:3:4~" in x12.interchange(result)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"patient.last_name": "RIV\x1bERA"}, "the 837P cannot carry patient.last_name 'RIV"),
        ({"patient.first_name": "JOSÉ"}, "patient.first_name 'JOSÉ': only printable ASCII"),
        ({"patient.address.state": "XX"}, "patient.address.state 'XX': a US state or territory code"),
        ({"patient.address.zip": "62"}, "patient.address.zip '62': 3-15 characters"),
        ({"encounter.claim_id": "R" * 39}, "encounter.claim_id"),
        ({"payer.payer_id": "P" * 16}, "payer.payer_id"),
        ({"rendering.name": "~*"}, "rendering's last name"),
    ],
)
def test_what_the_837p_cannot_carry_is_named_before_billing_ready_medicare(changes, message):
    result = billed(changes=changes, drop=["rendering.last_name", "rendering.first_name"])
    assert not result["billing_ready"]
    claim_data = [e["message"] for e in result["errors"] if e["rule"] == "CLAIM-DATA"]
    assert any(message in m for m in claim_data), claim_data


# ---- dates of service ----

def test_a_date_of_service_in_the_future_is_refused_medicare():
    result = billed(today=date(2026, 7, 7))
    assert not result["billing_ready"] and "DOS-NOT-FUTURE" in rules_of(result, "errors")
    assert billed(today=date(2026, 7, 8))["billing_ready"]


# ---- one unit of 97012 per date of service across claims ----

def prior(records, dos="2026-07-08", codes=None):
    return [{"claim_id": "RPT1", "date_of_service": dos, "payer": "medicare",
             "codes": codes or {"97012": 1}, "records": records}]


def test_97012_already_billed_that_day_on_another_claim_blocks_medicare():
    second = record(record=13, utc_start_s=factory.UTC_START_S + 5400)
    result = billed(records=[second], prior_claims=prior(["TU-000123#12"]))
    assert not result["billing_ready"] and "97012-ONE-PER-DAY" in rules_of(result, "errors")
    same_claim = billed(prior_claims=prior(["TU-000123#12"]))
    assert same_claim["billing_ready"], same_claim["blocking"]
    other_day = billed(records=[second], prior_claims=prior(["TU-000123#12"], dos="2026-07-07"))
    assert other_day["billing_ready"]
    no_traction = billed(records=[second], prior_claims=prior(["TU-000123#12"], codes={"97110": 2}))
    assert no_traction["billing_ready"]


def run(capsys, *argv):
    code = main(["bill", *map(str, argv)])
    return code, *capsys.readouterr()


def test_the_store_remembers_billed_claims_across_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TRACTION_STORE", str(tmp_path / "absent.db"))
    context = str(factory.EXAMPLE_CONTEXT)
    db = tmp_path / "traction.db"
    Store(db).close()
    first, second = tmp_path / "a.rec", tmp_path / "b.rec"
    first.write_bytes(factory.session())
    second.write_bytes(factory.session(record=13, utc_start_s=factory.UTC_START_S + 5400))
    key = factory.KEY.hex()
    assert run(capsys, first, "--context", context, "--key", key, "--store", db, "--format", "837")[0] == 0
    # the same claim again (another format): still billing-ready
    assert run(capsys, first, "--context", context, "--key", key, "--store", db, "--format", "csv")[0] == 0
    code, out, _ = run(capsys, second, "--context", context, "--key", key, "--store", db)
    assert code == 3 and "97012 was already billed for this patient on 2026-07-08" in out


def test_a_summary_printed_for_review_is_not_entered_as_billed(capsys, tmp_path):
    context = str(factory.EXAMPLE_CONTEXT)
    db = tmp_path / "traction.db"
    first, second = tmp_path / "a.rec", tmp_path / "b.rec"
    first.write_bytes(factory.session())
    second.write_bytes(factory.session(record=13, utc_start_s=factory.UTC_START_S + 5400))
    key = factory.KEY.hex()
    for fmt in ("json", "note"):
        assert run(capsys, first, "--context", context, "--key", key, "--store", db, "--format", fmt)[0] == 0
    assert run(capsys, second, "--context", context, "--key", key, "--store", db)[0] == 0


# ---- 5. the note an auditor reads ----

def test_the_note_names_the_patient_and_totals_the_minutes():
    result = billed(changes={"other_services": [{"code": "97110", "units": 2, "minutes": 26},
                                                {"code": "G0283", "minutes": 15}],
                             "fees.G0283": 20.0})
    text = note.markdown(result)
    assert "- Patient: RIVERA, ANA (MRN MRN-0042117), born 1956-03-14" in text
    assert "- Total treatment time: 51 min (97012 10 min, 97110 26 min, G0283 15 min)" in text
    assert "- Total timed-code minutes: 26 min" in text
    assert result["treatment_times"]["total_min"] == 51 and result["treatment_times"]["timed_min"] == 26


def test_a_timed_code_without_minutes_is_missing_documentation():
    result = billed(changes={"other_services": [{"code": "97110", "units": 2}]})
    assert not result["billing_ready"]
    assert {"total treatment time", "total timed-code minutes"} <= set(result["documentation"]["missing"])
    assert "- Total timed-code minutes: **missing**" in note.markdown(result)


def test_phases_in_the_note_are_numbered_from_1():
    phases = [factory.phase(duration_ms=300_000), factory.phase(mode="STATIC", duration_ms=300_000)]
    text = note.markdown(billed(records=[record(phases=phases)]))
    assert "| 1 | intermittent |" in text and "| 2 | static |" in text and "| 0 |" not in text


# ---- 6. who furnished the service stays in every export ----

def test_a_pta_billed_under_the_supervising_pt_is_still_named():
    result = billed(changes={"rendering.provider_type": "PTA", "supervising": SUPERVISOR})
    (row, _) = csv.DictReader(io.StringIO(csv_line.text(result)))
    assert row["rendering_npi"] == row["supervising_npi"] == "1728394655"  # as the 837P bills it
    assert (row["furnished_by_npi"], row["furnished_by_type"]) == ("1234567893", "PTA")
    assert result["furnished_by"] == {"name": "JORDAN LEE", "npi": "1234567893", "provider_type": "PTA"}
    text = note.markdown(result)
    assert "- Furnished by: JORDAN LEE, PTA (NPI 1234567893)" in text
    assert "- Billed under (rendering provider on the claim): SAM PARK, PT (NPI 1728394655)" in text
    assert "NM1*82*1*PARK*SAM****XX*1728394655~" in x12.interchange(result)


# ---- 7. tampering and aborted sessions ----

def test_a_record_line_that_no_longer_parses_fails_verification():
    data = factory.session().replace(b'"mean_dn": 2996', b'"mean_dn": 29 96', 1)
    with pytest.raises(RecordError, match=r"not valid JSON .*: the record fails verification \(altered or"):
        verify(data, factory.KEY)


def test_an_aborted_session_procedure_says_why_it_was_not_done():
    aborted = record(cut_at_ms=3_000, reason="FAULT", fault="SLACK")
    (procedure,) = by_kind(fhir.bundle(billed(records=[aborted])), "Procedure")
    assert procedure["status"] == "not-done"
    why = procedure["statusReason"]["text"]
    assert "ended (fault SLACK) after 3 s before any hold at therapeutic force" in why


def test_docs_list_every_rule_with_its_source():
    catalogue = json.loads((resources.files("traction.billing") / "rules" / "rules.json").read_text())
    docs = (factory.EXAMPLE_CONTEXT.parents[1] / "docs" / "billing.md").read_text()
    for rule in catalogue["rules"]:
        assert f"`{rule}`" in docs, rule


# ---- any value anywhere: a clear ContextError, or a summary whose billing-ready claim can be written ----

def _leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    yield path


LEAVES = [p for p in _leaves(factory.context().data) if p]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
    st.sampled_from(["", "11", "02", "99", "M54.16", "1679576722", "2026-07-08", "PTA", "97140", "XX"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(LEAVES), VALUES), min_size=1, max_size=3))
@example([(("rendering", "taxonomy"), "\x08")])  # PRV03 was not checked: billing-ready, then pyx12 failed
def test_any_bad_value_is_a_context_error_and_a_ready_claim_always_writes(changes):
    data = factory.context().data
    for path, value in changes:
        node = data
        try:  # an earlier change may have replaced a table on the way: then this one does not apply
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    try:
        context = Context(data, "fuzz")
    except ContextError as e:
        assert str(e).startswith("fuzz: ")
        return
    try:
        result = bill([record()], context, today=date(2026, 7, 8))
    except TractionError:
        return  # refused as a whole (e.g. an unknown payer), with its reason
    fhir.bundle(result)
    csv_line.text(result)
    note.markdown(result)
    if result["billing_ready"]:
        assert pyx12_check(x12.interchange(result)) == (True, [])
        Bundle.model_validate(fhir.bundle(result))
