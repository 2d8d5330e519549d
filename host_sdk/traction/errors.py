"""Typed errors of the host SDK. Each message is one line a person can act on.

RecordError (a session record that fails verification) lives in traction.record.
"""

from traction_protocol.constants import STATE_NAME


class TractionError(Exception):
    """Base of every error the SDK raises on purpose."""


class PortError(TractionError):
    """The serial port or URL cannot be opened."""


class BoardUnreachable(TractionError):
    """The board stopped answering or the link went away."""


class BadReply(TractionError):
    """The board sent a reply that does not fit the command (the host never trusts the board)."""


class ProtocolVersionError(TractionError):
    """The board speaks another protocol version."""


class ForceError(TractionError, ValueError):
    """A force given to the SDK (Session.edit_force) that is not a number, not finite, negative, or above
    the session's effective limit; nothing was sent to the board."""


# What a person can do about each NAK error (SPEC section 4, error codes).
FIXES = {
    "BAD_STATE": "check the board's state with `traction info`; the command is not allowed in it",
    "OUT_OF_RANGE": "a value is outside the range SPEC.md allows; correct the treatment file",
    "OVER_LIMIT": "lower the force below the device, region and session maximum",
    "NOT_CALIBRATED": "calibrate the load cell (service mode) before running a treatment",
    "NO_SETUP": "send SETUP and every PHASE before START",
    "CAUSE_PRESENT": "remove the cause first, then clear: release the stop switch, wait for the release "
                     "to end, and the line must read below 5 N (TARE is refused in FAULT: if the reading "
                     "is off zero, reset the board and tare it in IDLE); reconnect a load cell that does "
                     "not answer",
    "STOP_SWITCH": "the patient stop switch is pressed: release it, then clear the fault",
    "NOT_SERVICE": "enter service mode (needs the service jumper) first",
    "NO_JUMPER": "fit the service jumper on the board to enter service mode",
    "UNKNOWN_RECORD": "list the records the board holds with RECORD_LIST",
    "LIMIT_RAISE": "a provisioned maximum can only be lowered; raising it needs the board's store erased",
    "UNKNOWN_TYPE": "the board does not know this command: update the firmware or the SDK",
    "BAD_LENGTH": "the SDK and the firmware disagree on a message: update one of them",
    "STORE_FULL": "fetch and acknowledge the records the board holds (`traction info` fetches them)",
    "UNSUPPORTED_VERSION": "the board speaks another protocol version: update the firmware or the SDK",
    "NOT_TENSIONED": "the command needs the line in another tension state (TARE needs no force on it)",
    "PLAN_TOO_LONG": "the board records a treatment's holds, steps and cycles as it runs, and this plan has "
                     "more than it can keep: fewer or longer cycles, or a shorter plan",
}


class NakError(TractionError):
    """The board refused a command. .command, .error (SPEC name), .state (name) and .fix explain it."""

    def __init__(self, command: str, error: str, state: int | str, fix: str | None = None):
        self.command = command
        self.error = error
        self.state = STATE_NAME.get(state, str(state)) if isinstance(state, int) else state
        self.fix = fix or FIXES.get(error, "see the error table in protocol/SPEC.md")
        super().__init__(f"board refused {command}: {error} (state {self.state}); {self.fix}")


class TreatmentFileError(TractionError):
    """A treatment protocol file that cannot be run. .file, .field and .fix say where and what to do."""

    def __init__(self, file, field: str, problem: str, fix: str):
        self.file = str(file)
        self.field = field
        self.problem = problem
        self.fix = fix
        where = f"{self.file}: {field}" if field else self.file
        super().__init__(f"{where}: {problem}; {fix}")
