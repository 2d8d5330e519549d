# What boot.py and main.py do, where tests can reach it. MicroPython skips main.py when boot.py raises,
# and the traceback goes out before any host listens: so prepare() never raises; it keeps what failed,
# and app() latches it as a fault the host sees (STATUS, and an EVENT FAULT), the motor staying off.
import json
import sys

from . import hal, safety
from .app import App

CONFIG = "board.json"
failure = None  # why preparing the board failed (one line), or None


def prepare(store="."):
    """Before main.py: check the store is writable and give it a board config if it has none (from the
    image, when the image carries one). Never raises."""
    global failure
    failure = None
    try:
        _check_writable(store)
        _install_config(store)
    except Exception as e:  # noqa: BLE001 - anything: main.py must still run and report it
        failure = "%s: %s" % (type(e).__name__, e)
        sys.print_exception(e)


def app(store="."):
    """The application on the board board.json describes, with a failed preparation latched."""
    with open(store + "/" + CONFIG) as f:
        config = json.load(f)
    a = App(hal.load(config))
    if failure is not None:
        a.latch(safety.INTERNAL, 0)
    return a


def _check_writable(store):
    # The store keeps settings and treatment records: a board that cannot write them must not treat.
    probe = store + "/.boot-probe"
    with open(probe, "w") as f:
        f.write("ok")
    with open(probe) as f:
        if f.read() != "ok":
            raise OSError("the store at %s does not keep what is written" % store)
    import os

    os.remove(probe)


def _install_config(store):
    try:
        from image_config import BOARD_JSON  # frozen into images that carry a default board config
    except ImportError:
        return
    try:
        open(store + "/" + CONFIG).close()
    except OSError:
        with open(store + "/" + CONFIG, "w") as f:
            f.write(BOARD_JSON)
