# traction_fw: the traction board firmware (MicroPython). Board-specific code lives only in hal/.
VERSION = (0, 1, 0)
