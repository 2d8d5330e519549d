# ruff: noqa: F821 - include(), module() and options come from MicroPython's manifest tool
# The product image for a Raspberry Pi Pico (board RPI_PICO): the firmware without hal/sim, the rp2
# port's own manifest (its _boot.py mounts the LittleFS filesystem on the flash, which is the board's
# store), and the image's default board config (image_config.py, written by `traction build --target
# pico` from firmware/boards/pico.json). boot.py and main.py go on the filesystem (docs/firmware.md).
options.defaults(config_dir=None)

include("../../manifest.py", port_manifest=True, sim=False, scripts=False)
module("image_config.py", base_path=options.config_dir)
