"""Open the byte stream to a board: a device path, a pty, or any pyserial URL (socket://, rfc2217://)."""

import errno
import os
from typing import Any

import serial

from traction.errors import PortError

BAUDRATE = 115200
PORT_KINDS = "pass a device path (/dev/ttyACM0), a URL (socket://host:port) or 'sim'"
READ_TIMEOUT_S = 0.05  # how long the reader thread blocks before checking whether it should stop
# pyserial URLs that open a device on this machine (spy://PATH, alt://PATH): locked like a plain path.
LOCAL_SCHEMES = ("spy", "alt")
IN_USE = ("is in use by another program (another `traction`, mpremote, a terminal program): "
          "close that one first")


def local_device(port: str) -> str | None:
    """The device path behind a port on this machine (a path, spy://PATH, alt://PATH), else None."""
    if "://" not in port:
        return port
    scheme, rest = port.split("://", 1)
    if scheme.lower() in LOCAL_SCHEMES:
        return rest.split("?", 1)[0]
    return None


def open_port(port: str, timeout: float = READ_TIMEOUT_S) -> serial.SerialBase:
    """A pyserial port object, opened; PortError with a one-line reason otherwise."""
    if isinstance(port, os.PathLike):
        port = os.fspath(port)
    if port is None or port == "":
        raise PortError(f"no port given: {PORT_KINDS}")
    if not isinstance(port, str):
        raise PortError(f"the port must be a path or URL string, not {port!r} ({type(port).__name__}): "
                        f"{PORT_KINDS}")
    device = local_device(port)
    if device is not None and not os.path.exists(device):
        raise PortError(f"port {device} does not exist: check the cable and the path "
                        "(ls /dev/ttyACM* /dev/ttyUSB*), or use 'sim'")
    # A device on this machine is locked (flock, as mpremote does), however it is named: a second
    # program that opens it too would steal the running treatment's bytes, and with them its replies
    # and its lease. Network URLs (socket://, rfc2217://) have no such lock.
    options: dict[str, Any] = {"exclusive": True} if device is not None else {}
    try:
        # Waits for bytes in the reader thread, so a short timeout keeps close() quick.
        return serial.serial_for_url(port, baudrate=BAUDRATE, timeout=timeout, write_timeout=2.0, **options)
    except (serial.SerialException, OSError, ValueError) as e:
        if device is not None and getattr(e, "errno", None) in (errno.EAGAIN, errno.EWOULDBLOCK):
            raise PortError(f"port {device} {IN_USE}") from e
        raise PortError(f"cannot open port {port}: {_reason(e)}") from e


def _reason(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
