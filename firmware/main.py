# Board entry point: the board config is board.json in the current directory (the store root); run the
# application until a REPL break-in the image allows (SPEC section 11, docs/safety.md "Lockdown"), then
# return so the REPL takes the port. A failure in boot.py is latched as a fault here (traction_fw/startup.py).
import micropython

micropython.kbd_intr(-1)  # first: a Ctrl-C while the firmware imports must not reach a REPL

from traction_fw import startup  # noqa: E402

startup.main()
