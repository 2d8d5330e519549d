"""The billing tests' contexts in one catalogue, so one test can run both validators over all of them.

Each scenario: changes to and keys dropped from examples/context_example.toml, the session records it
bills, and whether it is billing-ready. EXAMPLE_CONTEXTS: every context file under examples/.
"""

import io
import json
from pathlib import Path

import pyx12.params
import pyx12.x12n_document
import record_factory as factory
from traction.record import verify

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_CONTEXTS = sorted(EXAMPLES.glob("context*.toml"))
SUPERVISOR = {"name": "SAM PARK", "npi": "1728394655", "provider_type": "PT"}


def lumbar():
    return [verify(factory.session(), factory.KEY)]


def cervical_and_lumbar():
    p = factory.phase(mode="STATIC", force_dn=1100, base_dn=0, duration_ms=480_000)
    neck = factory.session([p], record=13, region="CERVICAL", angle_dd=240,
                           utc_start_s=factory.UTC_START_S + 5400)
    return [*lumbar(), verify(neck, factory.KEY)]


def aborted():
    return [verify(factory.session(cut_at_ms=3_000, reason="FAULT", fault="SLACK"), factory.KEY)]


def faulted_after_holds():
    return [verify(factory.session(cut_at_ms=200_000, reason="FAULT", fault="SLACK"), factory.KEY)]


def no_angle():
    return [verify(factory.session(angle_dd=None), factory.KEY)]


def case(changes=None, drop=(), records=lumbar, ready=True) -> dict:
    return {"changes": changes or {}, "drop": tuple(drop), "records": records, "ready": ready}


SCENARIOS = {
    "the example": case(),
    "chiropractor to Medicare": case({"rendering.provider_type": "chiropractor"}),
    "PTA above threshold with 97140": case({
        "rendering.provider_type": "PTA",
        "supervising": SUPERVISOR,
        "therapy_spend.above_threshold": True,
        "other_services": [{"code": "97140", "units": 2, "minutes": 25}],
    }),
    "PTA for a payer that enrolls assistants": case({
        "rendering.provider_type": "PTA", "supervising": SUPERVISOR, "payer.profile": "commercial"}),
    "commercial decompression": case({
        "payer.profile": "commercial",
        "treatment.device_type": "decompression",
        "fees": {"S9090": 80.0, "97110": 62.0},
    }),
    "physician, one diagnosis": case({
        "rendering.provider_type": "physician",
        "diagnoses": [{"code": "M54.17"}],
        "treatment.rationale_diagnoses": ["M54.17"],
    }),
    "commercial, no referring provider": case({"payer.profile": "commercial"}, drop=["referring"]),
    "cervical and lumbar the same day": case({"treatment.regions": ["cervical", "lumbar"]},
                                             records=cervical_and_lumbar),
    "aborted traction, exercise billed": case(records=aborted),
    "fault after holds": case(records=faulted_after_holds),
    "outpatient hospital place of service": case({"encounter.place_of_service": "22"}),
    "angle entered in the context": case({"treatment.angle_deg": 15}, records=no_angle),
    "telehealth place of service": case({"encounter.place_of_service": "02"}, ready=False),
    "Medicare without the certifying physician": case(drop=["referring"], ready=False),
    "angle never entered": case(records=no_angle, ready=False),
    "unsigned": case(drop=["signature"], ready=False),
    "roller table": case({"treatment.device_type": "roller_table", "other_services": []}, ready=False),
}


def pyx12_check(text: str) -> tuple:
    """(valid, errors) from pyx12's validator, with its JSON error report."""
    report = io.StringIO()
    valid = pyx12.x12n_document.x12n_document(
        pyx12.params.ParamsBase(), io.StringIO(text), io.StringIO(), None, None, report
    )
    errors = []

    def collect(node):
        if isinstance(node, dict):
            errors.extend(node.get("errors", []))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(json.loads(report.getvalue()))
    return valid, errors
