"""Files the SDK needs at run time, found the same way in a checkout and in an installed wheel.

They live under the package's data/ folder: data/firmware (the board's main.py and boot.py, the board
configs boards/*.json, the traction_fw package the virtual board runs), data/protocol (the
traction_protocol package, for the virtual board's MicroPython) and data/examples (the treatment files,
the demo's among them). In a checkout those are links to the repository's firmware/, protocol/ and
examples/ folders, so there is one copy of each file; building a wheel copies the files in.
"""

from importlib.resources import files
from pathlib import Path

from traction.errors import TractionError


class ResourceNotFound(TractionError):
    """A file the package should carry is missing: a broken install or checkout."""


def resource(name: str) -> Path:
    """The path of a run-time file, e.g. resource("firmware/boards/sim.json") or
    resource("examples/lumbar_intermittent_15min.toml"); ResourceNotFound when it is missing."""
    path = Path(str(files("traction").joinpath("data", *name.split("/")))).resolve()
    if not path.exists():
        raise ResourceNotFound(f"{path} is missing from the traction package: reinstall it (pip install "
                               "traction-unit) or, in a checkout, restore firmware/ and examples/")
    return path
