# ruff: noqa: F821 - package() is provided by MicroPython's manifest tool (tools/manifestfile.py)
# What a board image freezes: the application and the shared protocol codec. boot.py and main.py stay
# on the board's filesystem, where MicroPython runs them at start.
package("traction_fw", base_path=".")
package("traction_protocol", base_path="../protocol")
