# ruff: noqa: F821 - include(), module() and options come from MicroPython's manifest tool
# The product image for a Raspberry Pi Pico (board RPI_PICO): the firmware without hal/sim, the rp2
# port's rp2.py (PIO assembly), this folder's _boot.py and flashstore.py in place of the port's _boot.py
# (the same LittleFS store on the flash, less the record spool's 64 KB at its end), and the image's default
# board config (image_config.py, written by `traction build --target pico` from firmware/boards/pico.json).
# boot.py and main.py go on the filesystem (docs/firmware.md).
options.defaults(config_dir=None)

include("../../manifest.py", port_manifest=False, sim=False, scripts=False)
module("rp2.py", base_path="$(PORT_DIR)/modules")
module("_boot.py")
module("flashstore.py")
module("image_config.py", base_path=options.config_dir)
