"""The hazard register (docs/safety.md) and the tests that inject each hazard stay in step."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("hazard_matrix", ROOT / "tools" / "hazard_matrix.py")
matrix = importlib.util.module_from_spec(spec)
spec.loader.exec_module(matrix)


def test_every_hazard_a_test_names_is_in_the_register():
    assert set(matrix.marked_tests()) <= set(matrix.register())


def test_the_traceability_table_in_the_safety_case_is_the_generated_one():
    assert matrix.documented() == matrix.table(), "run: python tools/hazard_matrix.py --write"


def test_every_hazard_with_a_software_reaction_has_a_test():
    untested = sorted(set(matrix.register()) - set(matrix.marked_tests()))
    assert untested == [], f"hazards no test injects: {untested}"
