"""Following a treatment: a Ctrl-C press is acted on wherever it lands, never lost nor a crash."""

import io
import os
import signal

import pytest
from rich.console import Console
from traction.progress import CtrlC, follow


class _Treatment:
    total_s = 60.0
    phases = [object()]


class _Session:
    """Just what follow() reads. The first look at `ended` is where the press lands: in the old loop that
    check sat outside the try that turned a KeyboardInterrupt into a gentle stop."""

    def __init__(self, presses=1, outage=None):
        self.treatment = _Treatment()
        self.events = []
        self.outage = outage
        self.calls = []
        self._to_press = presses
        self._ended = False

    @property
    def ended(self):
        while self._to_press:
            self._to_press -= 1
            os.kill(os.getpid(), signal.SIGINT)  # delivered before the next bytecode runs
        return self._ended

    def status(self):
        return None

    def stop(self):
        self.calls.append("stop")
        self._ended = True

    def estop(self):
        self.calls.append("estop")
        self._ended = True

    def wait(self):
        return "record"


def _quiet():
    return Console(file=io.StringIO(), force_terminal=False)


def test_a_press_anywhere_in_the_loop_stops_gently_and_the_record_is_returned():
    session = _Session(presses=1)
    assert follow(session, _quiet(), "N") == "record"
    assert session.calls == ["stop"]


def test_two_presses_are_a_gentle_stop_then_an_emergency_stop():
    session = _Session(presses=2)
    assert follow(session, _quiet(), "N") == "record"
    assert session.calls == ["stop", "estop"]


def test_a_press_while_the_board_does_not_answer_gives_up_waiting():
    session = _Session(presses=1, outage="lost the board")
    with pytest.raises(KeyboardInterrupt):
        follow(session, _quiet(), "N")
    assert session.calls == []


def test_the_previous_handler_is_back_afterwards():
    before = signal.getsignal(signal.SIGINT)
    with CtrlC(_Session(presses=0)) as keys:
        assert signal.getsignal(signal.SIGINT) == keys._press
    assert signal.getsignal(signal.SIGINT) is before


def test_a_press_during_start_counts_once_the_treatment_is_followed():
    session = _Session(presses=0)
    with CtrlC(session) as keys:
        os.kill(os.getpid(), signal.SIGINT)  # as if during START
        assert keys.presses == 1
        assert follow(session, _quiet(), "N", ctrl_c=keys) == "record"
    assert session.calls == ["stop"]
