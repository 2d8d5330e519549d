"""Forces given to a Session are checked before anything is sent: one clear TractionError, no codec error."""

import math

import pytest
from fakeboard import FakeBoard
from traction.device import Device
from traction.errors import ForceError, TractionError
from traction.session import Session
from traction.store import Store
from traction.treatment import Treatment

TREATMENT = ('region = "lumbar"\nbody_weight = "80 kg"\n[[phase]]\nmode = "static"\nforce = "250 N"\n'
             'duration = "1 min"\n')


@pytest.fixture
def session(tmp_path):
    board = FakeBoard()
    with Store(tmp_path / "t.db") as store, Device.open(board.url, store=store) as dev:
        yield Session(dev, Treatment.from_toml(TREATMENT)).start(), board
    board.close()


@pytest.mark.parametrize("force, words", [
    (-10, "-10 N is negative"),
    (1e9, "1e+09 N is above this session's limit of 287.5 N"),
    (math.nan, "nan is not a finite number"),
    (math.inf, "inf is not a finite number"),
    ("10", "'10' is not a number"),
    (None, "None is not a number"),
    (287.6, "287.6 N is above this session's limit of 287.5 N"),
])
def test_a_bad_force_edit_is_refused_before_it_reaches_the_board(session, force, words):
    s, board = session
    with pytest.raises(ForceError) as e:
        s.edit_force(force)
    assert isinstance(e.value, TractionError)
    message = str(e.value)
    assert message.startswith(f"edit_force: {words}") and "\n" not in message
    assert message.endswith("give a force in newtons from 0 to 287.5 N (this session's limit)")
    assert "EDIT_FORCE" not in board.executed


def test_forces_from_zero_to_the_limit_are_sent(session):
    s, board = session
    assert s.limit_n == 287.5
    s.edit_force(0)
    assert board.fields["EDIT_FORCE"]["force_dn"] == 0
    s.edit_force(287.5)
    assert board.fields["EDIT_FORCE"]["force_dn"] == 2875


@pytest.mark.parametrize("hz", [math.nan, math.inf, 0, -5, "10"])
def test_a_telemetry_rate_that_is_not_a_positive_number_is_refused(session, hz):
    s, _ = session
    with pytest.raises(TractionError, match="^telemetry_hz must be a number of samples per device second"):
        Session(s.device, s.treatment, telemetry_hz=hz)
