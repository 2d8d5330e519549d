# The link over the Pico's USB-CDC port (MicroPython's stdin/stdout). Writing never waits for the host:
# frames go into a bounded queue, whole or not at all (a frame that does not fit is dropped and counted,
# never cut), and drain() writes only while the port has room, taking back what it did not take. The
# product image (`traction build --target pico`) builds the CDC write timeout at 2 ms instead of 500, so
# a write the port takes only part of waits at most that long; a host that stops reading then costs
# nothing, the port having no room. Reading stops after a frame's end or a Ctrl-C, so bytes meant for
# the REPL stay unread (hal/__init__.py); it is a poll and a one-byte read per byte, as the port does not
# say how many it holds, with nothing else in the loop (a poll is 11 us on the emulated RP2040, a call of
# ours about 10 more).
import select
import sys

from .. import CTRL_C, FRAME_END


class UsbLink:
    def __init__(self, queue_bytes, port=None):
        self._q = bytearray(queue_bytes)
        self._head = 0
        self._count = 0
        self.dropped = 0  # bytes of frames that found the queue full
        self._byte = bytearray(1)
        self._port = port if port is not None else StdioPort()
        self._ipoll = self._port.ipoll
        self._readinto = self._port.readinto

    # -- the hal contract --
    def read(self, buf):
        n = 0
        size = len(buf)
        ipoll = self._ipoll
        readinto = self._readinto
        one = self._byte
        while n < size:
            for _ in ipoll(0):
                break
            else:
                return n  # nothing waiting
            if not readinto(one):
                return n
            b = one[0]
            buf[n] = b
            n += 1
            if b == FRAME_END or b == CTRL_C:
                break
        return n

    def write(self, data):
        n = len(data)
        q = self._q
        size = len(q)
        if n > size - self._count:
            self.dropped += n
        else:
            tail = (self._head + self._count) % size
            first = size - tail if n > size - tail else n
            q[tail:tail + first] = data[:first] if first < n else data
            if first < n:
                q[:n - first] = data[first:]
            self._count += n
        self.drain()

    def room(self):
        return len(self._q) - self._count

    # -- the board side --
    def queued(self):
        return self._count

    def drain(self):
        """Give the port what it takes without waiting; the rest stays queued."""
        q = self._q
        size = len(q)
        port = self._port
        while self._count and port.writable():
            run = size - self._head if self._head + self._count > size else self._count
            sent = port.write(q, self._head, run)
            if not sent:
                break
            self._head = (self._head + sent) % size
            self._count -= sent


class StdioPort:
    """MicroPython's stdin/stdout (the USB-CDC port on a Pico), polled without waiting."""

    def __init__(self):
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._rd = _poller(sys.stdin, select.POLLIN)
        self._wr = _poller(sys.stdout, select.POLLOUT)
        self.ipoll = self._rd.ipoll  # non-empty while a byte waits
        self.readinto = self._in.readinto

    def writable(self):
        return _ready(self._wr)

    def write(self, buf, off, n):
        return self._out.write(buf, off, n)


def _poller(stream, event):
    p = select.poll()
    # ipoll allocates its result tuple on its first event: take one now (stdout is writable), so that
    # polling in the loop never allocates.
    p.register(sys.stdout, select.POLLOUT)
    for _ in p.ipoll(0):
        break
    p.unregister(sys.stdout)
    p.register(stream, event)
    return p


def _ready(poller):
    for _ in poller.ipoll(0):
        return True
    return False
