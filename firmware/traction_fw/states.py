# Board states (SPEC section 7), as module constants for the tick (a dict lookup per tick would be slow).

from traction_protocol.constants import STATE

IDLE = STATE["IDLE"]
READY = STATE["READY"]
RUNNING = STATE["RUNNING"]
PAUSED = STATE["PAUSED"]
RELEASING = STATE["RELEASING"]
FAULT = STATE["FAULT"]
SERVICE = STATE["SERVICE"]
