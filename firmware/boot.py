# Runs before main.py on a board. Nothing here may move the motor: the application disables it at start
# and the hal leaves it disabled at power-on. Nothing here may raise either: MicroPython would skip
# main.py without a word to the host. What fails is latched as a fault by main.py instead.
import micropython

micropython.kbd_intr(-1)  # a Ctrl-C during boot must not end boot.py early (main.py decides on the REPL)
try:
    from traction_fw import startup

    startup.prepare()
except Exception as e:  # noqa: BLE001 - even the import: main.py reports it
    import sys

    sys.print_exception(e)
