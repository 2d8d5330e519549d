"""Host SDK for the traction unit: connect to a board, run treatments, keep what the board reports.

    import traction
    with traction.Device.open("sim") as dev:       # a path, a pyserial URL, or "sim"
        session = traction.Session(dev, traction.Treatment.load("examples/cervical_intermittent.toml"))
        session.start()
        record = session.wait()

See docs/integrators.md.
"""

from typing import TYPE_CHECKING

from traction.device import Device, Info, Status
from traction.errors import (
    BadReply,
    BoardUnreachable,
    ForceError,
    NakError,
    PortError,
    ProtocolVersionError,
    TractionError,
    TreatmentFileError,
)
from traction.record import Record, RecordError
from traction.session import Event, Sample, Session
from traction.store import Store
from traction.treatment import Treatment

if TYPE_CHECKING:  # imported on first use (below): type checkers see it all the same
    from traction.virtual_board import VirtualBoard

__all__ = [
    "BadReply", "BoardUnreachable", "Device", "Event", "ForceError", "Info", "NakError", "PortError",
    "ProtocolVersionError", "Record", "RecordError", "Sample", "Session", "Status", "Store", "TractionError",
    "Treatment", "TreatmentFileError", "VirtualBoard",
]


def __getattr__(name):
    # The virtual board pulls in the launcher machinery; load it only when asked for.
    if name == "VirtualBoard":
        from traction.virtual_board import VirtualBoard

        return VirtualBoard
    raise AttributeError(f"module 'traction' has no attribute {name!r}")
