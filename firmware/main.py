# Board entry point: the board config is board.json in the current directory (the store root); run the
# application until a REPL break-in (SPEC section 11), then return so the REPL takes the port. A failure
# in boot.py is latched as a fault here (traction_fw/startup.py).
from traction_fw import startup

startup.app().run()
