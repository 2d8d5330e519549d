"""The instruction budgets on the emulated board (benchmarks/mcu_budget_bench.py): each must hold within
10 %. Instruction counts under `qemu -icount shift=0` are deterministic, so this is not a timed test. It
runs with `pytest --board mcu` (as .ci/run does, after `traction build --target qemu`). The service() and
period budgets are judged on the calls that do not commit to the store; those must come with the motor off,
within their own budget (docs/firmware.md, "Instruction budgets")."""

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
    assert bench.TARGETS == {"service_nocommit_worst": 400000, "period_nocommit_worst": 480769,
                             "commits_driving": 0, "tick_bytes": 0, "heap_after_boot": 65536,
                             "treating_service_worst": 400000, "treating_period_worst": 480769,
                             "treating_service_bytes": 0, "service_commit_worst": 4807692}
    ok = {"service_nocommit_worst": 440000, "period_nocommit_worst": 528000, "commits_driving": 0,
          "tick_bytes": 0, "heap_after_boot": 72089, "treating_service_worst": 440000,
          "treating_period_worst": 528000, "treating_service_bytes": 0, "service_commit_worst": 5288000}
    assert bench.over_budget(ok) == []
    assert bench.over_budget(dict(ok, service_nocommit_worst=440001, tick_bytes=1, commits_driving=1,
                                  service_commit_worst=5300000)) == [
        ("service_nocommit_worst", 440001, 400000), ("commits_driving", 1, 0), ("tick_bytes", 1, 0),
        ("service_commit_worst", 5300000, 4807692)]


@pytest.fixture(scope="module")
def figures(bench):
    return bench.measure()


def test_the_firmware_meets_its_budgets(bench, figures):
    assert bench.over_budget(figures) == []


def test_the_store_is_committed_to_only_with_the_motor_off_at_start_seal_and_ack(figures):
    # A commit (LittleFS) costs millions of instructions (benchmarks/store_bench.py), more than any period's
    # budget; it has its own (4.8 M, test_the_firmware_meets_its_budgets). The session commits the record's
    # head at START, the record at its seal, and deletes it on RECORD_ACK, each with the motor disabled,
    # and never during the treatment (its rows go to the spool).
    assert figures["service_commit_count"] == 3
    assert figures["commits_driving"] == 0
