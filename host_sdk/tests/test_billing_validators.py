"""Every 837P the tool writes passes pyx12's x12valid, and every FHIR Bundle validates with fhir.resources
R4B, for every example context (examples/context*.toml) and every test context (billing_cases)."""

import subprocess
import sys
from pathlib import Path

import pytest
import record_factory as factory
from billing_cases import EXAMPLE_CONTEXTS, SCENARIOS
from fhir.resources.R4B.bundle import Bundle
from traction.billing import bill, fhir, load_context, x12
from traction.billing.demo import same_day
from traction.record import verify

X12VALID = Path(sys.executable).with_name("x12valid")


@pytest.fixture(scope="module")
def summaries():
    """(name, summary) for each example context (the example's records) and each test scenario."""
    out = []
    record = verify(factory.session(), factory.KEY)
    for path in EXAMPLE_CONTEXTS:
        out.append((path.name, bill([record], same_day(load_context(path), record))))
    for name, case in SCENARIOS.items():
        context = factory.context(case["changes"], case["drop"])
        out.append((name, bill(case["records"](), context)))
    return out


def x12valid(paths) -> str:
    """x12valid's report (stderr) for the files; its exit status says nothing, so the report is read."""
    run = subprocess.run([str(X12VALID), "--quiet", *map(str, paths)], capture_output=True, text=True,
                         timeout=300)
    return run.stderr


def test_the_examples_and_scenarios_are_what_they_claim(summaries):
    assert {p.name for p in EXAMPLE_CONTEXTS} >= {"context_example.toml", "context_pta_medicare.toml",
                                                  "context_commercial.toml"}
    ready = dict(summaries)
    for path in EXAMPLE_CONTEXTS:
        assert ready[path.name]["billing_ready"], (path.name, ready[path.name]["blocking"])
    for name, case in SCENARIOS.items():
        assert ready[name]["billing_ready"] is case["ready"], (name, ready[name]["blocking"])


def test_every_fhir_bundle_validates_with_fhir_resources_r4b(summaries):
    for name, summary in summaries:
        bundle = fhir.bundle(summary)
        try:
            Bundle.model_validate(bundle)
        except ValueError as e:
            pytest.fail(f"{name}: {e}")


def test_every_billing_ready_837p_passes_x12valid(tmp_path, summaries):
    paths = []
    for number, (name, summary) in enumerate(summaries):
        if summary["billing_ready"]:
            path = tmp_path / f"claim{number}.837"
            path.write_text(x12.interchange(summary, control_number=number + 1))
            paths.append((name, path))
    broken = tmp_path / "broken.837"  # proves the report is read: a line without its units fails
    broken.write_text(paths[0][1].read_text().replace("*UN*1***", "*UN****", 1))
    report = x12valid([p for _, p in paths] + [broken])
    for name, path in paths:
        assert f"{path}: OK" in report, f"{name}: {report}"
        assert "AK9*A" in path.with_name(path.name + ".997").read_text(), name  # the 997 accepts it
    assert f"{broken}: Failure" in report
    assert len(paths) >= len(EXAMPLE_CONTEXTS) + 10
