# What boot.py and main.py do, where tests can reach it. MicroPython skips main.py when boot.py raises,
# and the traceback goes out before any host listens: so prepare() never raises; it keeps what failed,
# and app() latches it as a fault the host sees (STATUS, and an EVENT FAULT), the motor staying off.
#
# The REPL (docs/safety.md, "Lockdown"): a development image ("repl": "always" in the board config) hands
# the port to the REPL on a break-in, as SPEC section 11 says. A production image ("repl": "jumper", the
# default) offers the REPL only when the service jumper was fitted at boot; otherwise its port carries the
# protocol alone and main() never returns, not even when the application cannot be built.
import json
import sys
import time

import micropython

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


def main(store="."):
    """main.py: the application until a REPL break-in it allows. Where no REPL may be offered, an
    application that cannot even be built leaves the board silent, motor off (the hal's power-on state),
    rather than at a REPL."""
    micropython.kbd_intr(-1)
    try:
        a = app(store)
    except Exception as e:  # noqa: BLE001 - any: the REPL decides what happens next
        sys.print_exception(e)
        if not _config_opens_repl(store):
            while True:
                time.sleep_ms(1000)
        micropython.kbd_intr(3)
        raise
    a.run()


def _config_opens_repl(store):
    try:
        with open(store + "/" + CONFIG) as f:
            return json.load(f).get("repl", "jumper") == "always"
    except (OSError, ValueError):
        return False


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
        # frozen into images that carry a default board config
        from image_config import BOARD_JSON  # pyright: ignore[reportMissingImports]
    except ImportError:
        return
    try:
        open(store + "/" + CONFIG).close()
    except OSError:
        with open(store + "/" + CONFIG, "w") as f:
            f.write(BOARD_JSON)
