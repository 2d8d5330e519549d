"""Two pseudo-terminals joined back to back: the board's side and the user's side of a virtual serial port.

The interpreter runs on pty A; people and programs open pty B. A thread copies bytes between the two
masters, so the user's port stays open while the interpreter behind pty A stops and starts again, as a
USB serial port stays put while a board reboots behind it. Both sides are raw: no echo, no line editing,
no CR/LF translation; the link is a plain byte stream (SPEC.md section 2).

noisy_line(port, p) puts the same relay in front of an existing port (a virtual board's, or a real one)
and damages each byte passing either way with probability p: a bad cable, for QA and the tests.
"""

import errno
import fcntl
import os
import random
import select
import termios
import threading
import tty

# What one side may hold for the other when the other is not reading. Beyond this the oldest bytes are
# dropped, as a real USB serial port drops output nobody reads.
BACKLOG_MAX = 64 * 1024
READ_SIZE = 4096


class PtyRelay:
    """board_fd: the slave of pty A, for the interpreter's stdin/stdout. port: the path of pty B's slave.

    on_board_output(data) -> data and on_user_input(data) -> data run in the relay thread and may
    change or swallow (return b"") what passes through.
    """

    def __init__(self, on_board_output=None, on_user_input=None, board_port=None):
        """board_port: an existing port to relay to, instead of a new pty A (board_fd is then None)."""
        self._on_board_output = on_board_output or (lambda data: data)
        self._on_user_input = on_user_input or (lambda data: data)
        if board_port is None:
            self._board_master, self.board_fd = _raw_pty()
        else:
            self._board_master, self.board_fd = _open_locked(board_port), None
        self._user_master, self._user_slave = _raw_pty()
        self.port = os.ttyname(self._user_slave)
        self._to_user = bytearray()
        self._to_board = bytearray()
        self._injected_user = bytearray()
        self._injected_board = bytearray()
        self._lock = threading.RLock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="pty-relay", daemon=True)

    def start(self):
        """Start relaying bytes between the pty and the emulator."""
        self._thread.start()

    def close(self):
        """Stop relaying and close both ends."""
        self._stopping = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for fd in (self._board_master, self.board_fd, self._user_master, self._user_slave,
                   self._wake_r, self._wake_w):
            if fd is not None:
                os.close(fd)

    def to_user(self, data):
        """Send bytes to the user as if the board wrote them (after what the board wrote so far)."""
        with self._lock:
            self._injected_user += data
        self._wake()

    def to_board(self, data):
        """Send bytes to the board as if the user typed them."""
        with self._lock:
            self._injected_board += data
        self._wake()

    def flush_board_input(self):
        """Forget bytes the board has not read yet: what a rebooting board loses."""
        with self._lock:
            self._to_board.clear()
        _discard_input(self.board_fd)

    def _wake(self):
        try:
            os.write(self._wake_w, b"!")
        except BlockingIOError:
            pass  # a wake-up is already pending

    def _run(self):
        while not self._stopping:
            readers = [self._board_master, self._user_master, self._wake_r]
            writers = [fd for fd, buf in ((self._user_master, self._to_user),
                                          (self._board_master, self._to_board)) if buf]
            readable, _, _ = select.select(readers, writers, [], 1.0)
            if self._wake_r in readable:
                _drain(self._wake_r)
            # Read everything the board has written before adding injected bytes, so a message the
            # launcher injects after the interpreter exited comes after the interpreter's last words.
            with self._lock:
                if self._board_master in readable:
                    _append(self._to_user, self._on_board_output(_read_all(self._board_master)))
                if self._user_master in readable:
                    _append(self._to_board, self._on_user_input(_read_all(self._user_master)))
                _append(self._to_user, bytes(self._injected_user))
                _append(self._to_board, bytes(self._injected_board))
                self._injected_user.clear()
                self._injected_board.clear()
                _write_some(self._user_master, self._to_user)
                _write_some(self._board_master, self._to_board)


class Noise:
    """Damages each byte with probability p: half of those are dropped, half replaced by another byte."""

    def __init__(self, p, seed=1):
        self.p = p
        self.dropped = 0
        self.corrupted = 0
        self._rng = random.Random(seed)

    def __call__(self, data):
        out = bytearray()
        for byte in data:
            r = self._rng.random()
            if r < self.p / 2:
                self.dropped += 1
            elif r < self.p:
                self.corrupted += 1
                out.append(byte ^ self._rng.randrange(1, 256))
            else:
                out.append(byte)
        return bytes(out)


def noisy_line(port, p, seed=1):
    """A started PtyRelay in front of port whose bytes, both ways, are damaged with probability p; open
    its .port instead of port. .noise counts the damage. Close it when done."""
    noise = Noise(p, seed)
    relay = PtyRelay(on_board_output=noise, on_user_input=noise, board_port=port)
    relay.noise = noise  # type: ignore[attr-defined]  (only relays made here have it)
    relay.start()
    return relay


def _open_locked(path):
    """An existing port, raw and locked as the SDK locks it (transport.py): the relay is its one user."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        tty.setraw(fd)
    except OSError:
        os.close(fd)
        raise
    return fd


def _raw_pty():
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    return master, slave


def _read_all(fd):
    chunks = []
    while True:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            break
        except OSError as e:
            if e.errno == errno.EIO:  # no slave open: nothing to read
                break
            raise
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def _append(buf, data):
    buf += data
    if len(buf) > BACKLOG_MAX:
        del buf[: len(buf) - BACKLOG_MAX]


def _write_some(fd, buf):
    if not buf:
        return
    try:
        n = os.write(fd, buf)
    except (BlockingIOError, InterruptedError):
        return
    del buf[:n]


def _drain(fd):
    try:
        while os.read(fd, READ_SIZE):
            pass
    except BlockingIOError:
        pass


def _discard_input(slave_fd):
    termios.tcflush(slave_fd, termios.TCIFLUSH)
