# Runs before main.py on a board. Nothing here may move the motor: the application disables it at start
# and the hal leaves it disabled at power-on.
