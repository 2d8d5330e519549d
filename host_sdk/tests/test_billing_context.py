"""The clinical context, NPI check digits and the ICD-10-CM table: bad input is named, nothing guessed."""

import json
from datetime import date

import pytest
import record_factory as factory
from traction.billing import icd10
from traction.billing.context import ContextError, load
from traction.billing.npi import npi_problem


@pytest.mark.parametrize("npi", ["1234567893", "1549873218", "1728394655"])
def test_valid_npis(npi):
    assert npi_problem(npi) is None


@pytest.mark.parametrize(
    ("npi", "problem"),
    [
        ("1234567890", "fails the NPI check digit"),
        ("1234567839", "fails the NPI check digit"),  # two digits swapped
        ("123456789", "is not 10 digits"),
        ("12345678AB", "is not 10 digits"),
    ],
)
def test_invalid_npis(npi, problem):
    assert problem in npi_problem(npi)


def test_example_context_loads_from_toml_and_json(tmp_path):
    context = load(factory.EXAMPLE_CONTEXT)
    assert context.provider_type == "PT" and context.payer_profile == "medicare"
    assert context.diagnoses == ["M54.16", "M51.26"] and context.time_zone.key == "America/Chicago"
    as_json = tmp_path / "context.json"
    as_json.write_text(json.dumps(context.data))
    assert load(as_json).data == context.data


@pytest.mark.parametrize(
    ("changes", "drop", "message"),
    [
        (
            {"encounter.time_zone": "Mars/Olympus"},
            (),
            "encounter.time_zone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            {"rendering.provider_type": "OT"},
            (),
            "rendering.provider_type: 'OT' is not one of PT, PTA, chiropractor",
        ),
        (
            {"treatment.device_type": "inversion table"},
            (),
            "treatment.device_type: 'inversion table' is not one of",
        ),
        ({"supervising": {"name": "X", "npi": "1234567890", "provider_type": "PT"}}, (), "supervising.npi"),
        ({"diagnoses": []}, (), "diagnoses: list at least one ICD-10-CM diagnosis"),
        ({"diagnoses": [{"code": f"M54.{n}"} for n in range(13)]}, (), "at most 12 diagnoses"),
        ({"encounter.date_of_service": "07/08/2026"}, (), "'07/08/2026' is not a date"),
        (
            {"treatment.regions": ["thoracic"]},
            (),
            "treatment.regions: 'thoracic' is not one of cervical, lumbar",
        ),
        (
            {"other_services": [{"code": "97140", "units": 0}]},
            (),
            "other_services[0].units: must be a whole number",
        ),
        ({"fees": {"97012": "45"}}, (), "fees.97012: must be an amount in dollars"),
        (
            {"therapy_spend": {"above_threshold": "yes"}},
            (),
            "therapy_spend.above_threshold: must be true or false",
        ),
        ({"signature.signed_at": "today"}, (), "signature.signed_at: 'today' is not a time"),
        ({"encounter.visit_number": 0}, (), "encounter.visit_number: must be a whole number from 1"),
        ({}, ["payer"], "payer.profile: is required"),
        ({"schema": "traction.context/2"}, (), "schema: 'traction.context/2' is not 'traction.context/1'"),
    ],
)
def test_context_errors_name_the_field(changes, drop, message):
    with pytest.raises(ContextError, match=message.replace("(", r"\(").replace("[", r"\[")):
        factory.context(changes, drop)


def test_toml_date_literals_are_accepted(tmp_path):
    text = factory.EXAMPLE_CONTEXT.read_text()
    text = text.replace('certified_on = "2026-06-29"', "certified_on = 2026-06-29")
    text = text.replace('signed_at = "2026-07-08T11:05:00-05:00"', "signed_at = 2026-07-08T11:05:00-05:00")
    path = tmp_path / "dates.toml"
    path.write_text(text)
    context = load(path)
    assert context.get("plan_of_care.certified_on") == "2026-06-29"
    assert context.get("signature.signed_at") == "2026-07-08T11:05:00-05:00"


def test_unreadable_context_files(tmp_path):
    with pytest.raises(ContextError, match="cannot read context"):
        load(tmp_path / "missing.toml")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ContextError, match="broken.json: not valid JSON"):
        load(broken)
    array = tmp_path / "array.json"
    array.write_text("[]")
    with pytest.raises(ContextError, match="must be a table/object"):
        load(array)


@pytest.mark.parametrize(
    ("code", "on", "status", "rule"),
    [
        ("M54.16", date(2026, 7, 8), "billable", "ICD-SPECIFICITY"),
        ("m5416", date(2026, 7, 8), "billable", "ICD-SPECIFICITY"),
        ("M54.5", date(2021, 9, 30), "billable", "ICD-SPECIFICITY"),  # still valid the day before deletion
        ("M54.5", date(2021, 10, 1), "invalid", "ICD-DELETED"),
        ("M54.50", date(2021, 9, 30), "invalid", "ICD-DELETED"),  # not yet in effect
        ("M50.12", date(2026, 7, 8), "invalid", "ICD-DELETED"),  # expanded to M50.120-M50.123 in FY2021
        ("M51.2", date(2026, 7, 8), "invalid", "ICD-SPECIFICITY"),
        ("M54.3", date(2026, 7, 8), "invalid", "ICD-SPECIFICITY"),
        ("M48.061", date(2026, 7, 8), "unknown", "ICD-NOT-IN-TABLE"),
        ("U07.1", date(2026, 7, 8), "unknown", "ICD-NOT-IN-TABLE"),  # real, but not in our table
        ("97012", date(2026, 7, 8), "invalid", "ICD-FORMAT"),
    ],
)
def test_icd10_table(code, on, status, rule):
    result = icd10.check(code, on)
    assert (result["status"], result["rule"]) == (status, rule)


def test_every_table_entry_is_consistent():
    table = icd10.table()
    for code, entry in table.items():
        assert icd10.FORMAT.match(code), code
        if entry["billable"]:
            date.fromisoformat(entry["from"])
            for replacement in entry.get("replaced_by", []):
                assert table[replacement]["billable"] and table[replacement]["from"] > entry["until"]
        else:
            assert all(child in table for child in entry["children"]), code
