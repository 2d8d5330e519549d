# ruff: noqa: F821 - include(), module() and options come from MicroPython's manifest tool
# The emulated board's image (MPS2-AN385, Cortex-M3 under QEMU): the firmware with hal/sim (the simulated
# motor, load cell and patient run on the MCU), boot.py and main.py, the LittleFS _boot.py, and the
# image's board config. tools/build_image.py writes the top manifest that includes this one with:
#   config_dir  the folder holding the generated image_config.py (the default board.json)
#   tests       also freeze the MicroPython tests (firmware/tests, protocol/tests), their helper
#               modules and tools/mp_runner.py
import os

options.defaults(config_dir=None, tests=False)

include("../../manifest.py", port_manifest=False, sim=True, scripts=True)
module("_boot.py")
module("ramblocks.py")
module("image_config.py", base_path=options.config_dir)
if options.tests:
    # every MicroPython module beside the tests (their helpers too), not the CPython tests (test_*.py)
    for d in ("../../tests", "../../../protocol/tests"):
        for name in sorted(os.listdir(d)):
            helper = d == "../../tests" or name.startswith(("mp_test_", "vector_cases"))
            if name.endswith(".py") and helper and not name.startswith(("test_", "conftest")):
                module(name, base_path=d)
    module("mp_runner.py", base_path="../../../tools")
