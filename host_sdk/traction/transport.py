"""Open the byte stream to a board: a device path, a pty, or any pyserial URL (socket://, rfc2217://)."""

import errno
import os

import serial

from traction.errors import PortError

BAUDRATE = 115200
PORT_KINDS = "pass a device path (/dev/ttyACM0), a URL (socket://host:port) or 'sim'"
READ_TIMEOUT_S = 0.05  # how long the reader thread blocks before checking whether it should stop


def open_port(port: str, timeout: float = READ_TIMEOUT_S) -> serial.SerialBase:
    """A pyserial port object, opened; PortError with a one-line reason otherwise."""
    if isinstance(port, os.PathLike):
        port = os.fspath(port)
    if port is None or port == "":
        raise PortError(f"no port given: {PORT_KINDS}")
    if not isinstance(port, str):
        raise PortError(f"the port must be a path or URL string, not {port!r} ({type(port).__name__}): "
                        f"{PORT_KINDS}")
    local = "://" not in port
    if local and not os.path.exists(port):
        raise PortError(f"port {port} does not exist: check the cable and the path "
                        "(ls /dev/ttyACM* /dev/ttyUSB*), or use 'sim'")
    # A local port is locked (flock, as mpremote does): a second program that opens it too would steal
    # the running treatment's bytes, and with them its replies and its lease. URLs have no such lock.
    options = {"exclusive": True} if local else {}
    try:
        # Waits for bytes in the reader thread, so a short timeout keeps close() quick.
        return serial.serial_for_url(port, baudrate=BAUDRATE, timeout=timeout, write_timeout=2.0, **options)
    except (serial.SerialException, OSError, ValueError) as e:
        if local and getattr(e, "errno", None) in (errno.EAGAIN, errno.EWOULDBLOCK):
            raise PortError(f"port {port} is in use by another program (another `traction`, mpremote): "
                            "close that one first") from e
        raise PortError(f"cannot open port {port}: {_reason(e)}") from e


def _reason(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
