"""The instruction budgets on the emulated board (benchmarks/mcu_budget_bench.py): each must hold within
10 %. Instruction counts under `qemu -icount shift=0` are deterministic, so this is not a timed test. It
runs with `pytest --board mcu` (as .ci/run does, after `traction build --target qemu`)."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "mcu_budget_bench.py"


@pytest.fixture(scope="module")
def bench(request):
    if request.config.getoption("--board") != "mcu":
        pytest.skip("the emulated board's budgets run with --board mcu (.ci/run)")
    spec = importlib.util.spec_from_file_location("mcu_budget_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_budgets_are_the_issues_targets(bench):
    # 50 % of 10 ms at 125 MHz, 1.3 cycles per instruction
    assert bench.TARGETS == {"service_worst": 400000, "period_worst": 480769, "tick_bytes": 0,
                             "heap_after_boot": 65536, "treating_service_worst": 400000,
                             "treating_period_worst": 480769, "treating_service_bytes": 0}
    ok = {"service_worst": 440000, "period_worst": 528000, "tick_bytes": 0, "heap_after_boot": 72089,
          "treating_service_worst": 440000, "treating_period_worst": 528000, "treating_service_bytes": 0}
    assert bench.over_budget(ok) == []
    assert bench.over_budget(dict(ok, service_worst=440001, tick_bytes=1, treating_service_bytes=4)) == [
        ("service_worst", 440001, 400000), ("tick_bytes", 1, 0), ("treating_service_bytes", 4, 0)]


@pytest.fixture(scope="module")
def over(bench):
    """The budgets exceeded by more than 10 %: [(name, measured, budget), ...]."""
    return bench.over_budget(bench.measure())


# Not met yet (issue 10 stays open): outside a treatment, the call that seals a record makes its lines
# from the spool and appends them with the seal in one LittleFS commit (3.9 M instructions for a 40 s
# record), and a RECORD_READ chunk costs up to 0.57 M (with a HEARTBEAT in the same call; docs/firmware.md,
# Instruction budgets). During a treatment every budget is met (the test above). Strict: the day these
# are met, the xfail test fails and they move to the test above it.
NOT_MET = ("service_worst", "period_worst")


def test_the_firmware_allocates_nothing_per_tick_nor_in_a_treatment_and_meets_its_budgets_there(over):
    assert [o for o in over if o[0] not in NOT_MET] == []


@pytest.mark.xfail(strict=True, reason="issue 10: worst service() 3.9 M and worst period 4.1 M instructions "
                   "against 400 k and 481 k, outside a treatment: sealing a record (its lines and one "
                   "LittleFS commit) and RECORD_READ (0.57 M) (docs/firmware.md)")
def test_service_and_the_whole_period_stay_within_their_budgets_outside_a_treatment_too(over):
    assert [o for o in over if o[0] in NOT_MET] == []
