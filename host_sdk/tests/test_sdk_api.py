"""The SDK's API decisions of issue 15: what an edit in a stepped phase says, and the typed Store API."""

from traction.resources import resource
from traction.session import Event
from traction.treatment import Treatment


def test_an_edit_in_a_stepped_phase_says_the_top_step_takes_the_new_force():
    treatment = Treatment.load(resource("examples/lumbar_progressive.toml"))
    stepped = next(i for i, p in enumerate(treatment.phases) if p.mode in ("progressive", "regressive"))
    edit = Event(number=3, ms=60000, kind="EDIT", code=stepped, value=2000)
    assert edit.describe("N", treatment) == (f"phase {stepped + 1} edited: its top step is now 200.0 N, "
                                             "the current step in proportion")
    assert edit.describe("N") == f"phase {stepped + 1} force edited to 200.0 N"  # no treatment: no guess


def test_an_edit_in_a_static_phase_names_the_force_the_board_holds():
    treatment = Treatment.from_toml('region = "lumbar"\nbody_weight = "80 kg"\n[[phase]]\nmode = "static"\n'
                                    'force = "250 N"\nduration = "1 min"\n')
    edit = Event(number=3, ms=60000, kind="EDIT", code=0, value=2000)
    assert edit.describe("N", treatment) == "phase 1 force edited to 200.0 N"
