# ruff: noqa: F821 - include(), package(), module() and options come from MicroPython's manifest tool
# (tools/manifestfile.py in the MicroPython tree)
# What a board image freezes: the application and the shared protocol codec. An image's own manifest
# includes this file with options (firmware/ports/qemu/manifest.py is one):
#   port_manifest  include the port's own boards/manifest.py (default True); the qemu port has none, and
#                  the Pico image leaves rp2's out for its own _boot.py (firmware/ports/rp2/manifest.py)
#   sim            freeze hal/sim, the simulated board (default False: a product image leaves it out)
#   scripts        freeze boot.py and main.py (default False: on a real board they stay on its filesystem,
#                  where MicroPython runs them at start)
import os

options.defaults(port_manifest=True, sim=False, scripts=False)

if options.port_manifest:
    include("$(PORT_DIR)/boards/manifest.py")


def _app_files():
    """traction_fw's modules, relative to the package, without hal/sim unless the image keeps it."""
    files = []
    for top, _dirs, names in os.walk("traction_fw"):
        rel = top[len("traction_fw"):].lstrip("/")
        if rel.startswith("hal/sim") and not options.sim:
            continue
        files += [(rel + "/" if rel else "") + n for n in names if n.endswith(".py")]
    return sorted(files)


package("traction_fw", files=_app_files(), base_path=".")
package("traction_protocol", base_path="../protocol")
if options.scripts:
    module("boot.py")
    module("main.py")
