# The serial link of the simulated board. "memory": in-process byte queues a test drives through
# host_write()/host_read(). "stdio": the process's stdin/stdout, which the virtual-board launcher puts on
# a pty in raw mode. While the link_silent fault is set, bytes are dropped both ways.
import select
import sys

import micropython

from .. import CTRL_C, FRAME_END


@micropython.viper
def _put(buf: ptr8, size: int, at: int, data: ptr8, n: int):  # noqa: F821 - viper's pointer types
    """data[:n] into the circular buf from at, without allocating."""
    for i in range(n):
        buf[at] = data[i]
        at += 1
        if at == size:
            at = 0


class Ring:
    """A fixed byte queue: put and get never allocate."""

    def __init__(self, size):
        self.buf = bytearray(size)
        self.head = 0
        self.count = 0

    def put(self, b):
        if self.count == len(self.buf):
            return False
        self.buf[(self.head + self.count) % len(self.buf)] = b
        self.count += 1
        return True

    def put_many(self, data):
        """As many bytes of data as fit; how many. A byte at a time in bytecode costs a board frame
        ~4,000 instructions a byte (the emulated board's budgets count the link's writes)."""
        buf = self.buf
        n = min(len(data), len(buf) - self.count)
        _put(buf, len(buf), (self.head + self.count) % len(buf), data, n)
        self.count += n
        return n

    def get(self):
        b = self.buf[self.head]
        self.head = (self.head + 1) % len(self.buf)
        self.count -= 1
        return b


class MemoryLink:
    # Sized like a board's serial buffers, not to hide a test that forgets to drain: what the firmware
    # writes beyond OUT_SIZE undrained is dropped and counted; host_write beyond IN_SIZE unread raises.
    IN_SIZE = 2048
    OUT_SIZE = 8192

    # The rings of the last link let go of (release()). Tests reboot boards by the hundred in one process,
    # and after a long session a 140 KB heap may no longer hold a new 8 KB ring in one piece.
    _spare = None

    def __init__(self):
        rings, MemoryLink._spare = MemoryLink._spare, None
        if rings is None:
            rings = (Ring(self.IN_SIZE), Ring(self.OUT_SIZE))
        self._in, self._out = rings
        for ring in rings:
            ring.head = ring.count = 0
        self.silent = False
        self.dropped = 0  # bytes the firmware wrote while the host queue was full

    def release(self):
        """This link's board is gone: its rings go to the next MemoryLink."""
        MemoryLink._spare = (self._in, self._out)
        self._in = self._out = None

    # -- the hal contract --
    def read(self, buf):
        n = 0
        ring = self._in
        while n < len(buf) and ring.count:
            b = ring.get()
            buf[n] = b
            n += 1
            if b == FRAME_END or b == CTRL_C:
                break
        return n

    def write(self, data):
        if self.silent:
            return
        self.dropped += len(data) - self._out.put_many(data)

    def room(self):
        return len(self._out.buf) - self._out.count

    # -- the host side, for in-process tests --
    def host_write(self, data):
        """Queue bytes for the firmware to read."""
        if self.silent:
            return
        for b in data:
            if not self._in.put(b):
                raise OverflowError("link input queue full: the firmware is not reading")

    def host_read(self):
        """Everything the firmware wrote since the last call."""
        out = self._out
        data = bytearray(out.count)
        for i in range(len(data)):
            data[i] = out.get()
        return bytes(data)


class StdioLink:
    # What room() reports: a pty or UART has no queue the firmware can measure, and a write waits for it
    # once it is full, as it does for every frame (a board's USB link drops instead: hal/rp2/link.py).
    ROOM = 4096

    def __init__(self):
        self.silent = False
        self._byte = bytearray(1)
        self._stdin = sys.stdin.buffer
        self.attach_output(sys.stdout.buffer)
        self._poll = select.poll()
        # ipoll allocates its result tuple on its first event: take that event now (stdout is writable)
        # so that read() never allocates.
        self._poll.register(sys.stdout, select.POLLOUT)
        for _ in self._poll.ipoll(0):
            break
        self._poll.unregister(sys.stdout)
        self._poll.register(sys.stdin, select.POLLIN)

    def attach_output(self, stream):
        self._stdout = stream
        # Bare-metal ports write straight to the UART and have no flush(); the unix port buffers.
        self._flush = getattr(stream, "flush", None)

    def read(self, buf):
        # One byte at a time, and only up to a frame's end or a Ctrl-C: what the application does not
        # read stays in the pty for the REPL.
        n = 0
        while n < len(buf) and self._pending():
            if not self._stdin.readinto(self._byte):
                break
            b = self._byte[0]
            if not self.silent:
                buf[n] = b
                n += 1
            if b == FRAME_END or b == CTRL_C:
                break
        return n

    def write(self, data):
        if self.silent:
            return
        self._stdout.write(data)
        if self._flush is not None:
            self._flush()

    def room(self):
        return self.ROOM

    def _pending(self):
        for _ in self._poll.ipoll(0):
            return True
        return False
