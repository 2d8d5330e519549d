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
                             "heap_after_boot": 65536}
    assert bench.over_budget({"service_worst": 440000, "period_worst": 528000, "tick_bytes": 0,
                              "heap_after_boot": 72089}) == []
    assert bench.over_budget({"service_worst": 440001, "period_worst": 0, "tick_bytes": 1,
                              "heap_after_boot": 0}) == [("service_worst", 440001, 400000),
                                                         ("tick_bytes", 1, 0)]


@pytest.fixture(scope="module")
def over(bench):
    """The budgets exceeded by more than 10 %: [(name, measured, budget), ...]."""
    return bench.over_budget(bench.measure())


# Not met yet (issue 10 stays open): a full collection (0.95 M instructions) lands in service() whenever it
# allocates into a full heap, a record line is a LittleFS append and commit (0.75-1.4 M), a RECORD_READ
# ~0.53 M (docs/firmware.md, Instruction budgets). Strict: the day they are met, the xfail test fails and
# these move to the test above it.
NOT_MET = ("service_worst", "period_worst")


def test_the_firmware_allocates_nothing_per_tick_and_boots_within_its_heap(over):
    assert [o for o in over if o[0] not in NOT_MET] == []


@pytest.mark.xfail(strict=True, reason="issue 10: worst service() 2.3 M and worst period 2.5 M instructions "
                   "against 400 k and 481 k: collections and record commits in service() (docs/firmware.md)")
def test_service_and_the_whole_period_stay_within_their_budgets(over):
    assert [o for o in over if o[0] in NOT_MET] == []
