"""Host SDK for the traction unit: connect to a board, run treatments, keep what the board reports.

    import traction
    with traction.Device.open("sim") as dev:       # a path, a pyserial URL, or "sim"
        session = traction.Session(dev, traction.Treatment.load("examples/cervical_intermittent.toml"))
        session.start()
        record = session.wait()

See docs/integrators.md. The names below are imported on first use, so `import traction` (and the
`traction` command) start quickly; type checkers see them all the same.
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from traction.adc import AdcBatch, AdcStream
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
    from traction.virtual_board import VirtualBoard

_WHERE = {
    "AdcBatch": "adc", "AdcStream": "adc",
    "Device": "device", "Info": "device", "Status": "device",
    "BadReply": "errors", "BoardUnreachable": "errors", "ForceError": "errors", "NakError": "errors",
    "PortError": "errors", "ProtocolVersionError": "errors", "TractionError": "errors",
    "TreatmentFileError": "errors",
    "Record": "record", "RecordError": "record",
    "Event": "session", "Sample": "session", "Session": "session",
    "Store": "store", "Treatment": "treatment", "VirtualBoard": "virtual_board",
}

__all__ = [
    "AdcBatch", "AdcStream", "BadReply", "BoardUnreachable", "Device", "Event", "ForceError", "Info",
    "NakError", "PortError", "ProtocolVersionError", "Record", "RecordError", "Sample", "Session", "Status",
    "Store", "TractionError", "Treatment", "TreatmentFileError", "VirtualBoard",
]


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'traction' has no attribute {name!r}")
    return getattr(importlib.import_module(f"traction.{module}"), name)
