# Frozen into the Pico product image in place of the rp2 port's own _boot.py (MicroPython runs it before
# boot.py): mount the store, leaving the record spool's region outside it (flashstore.py).
import flashstore  # noqa: F401 - mounts at import
