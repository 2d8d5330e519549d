# Force statistics over a segment or a phase, for the session record: mean, peak, min, samples within
# tolerance. Accumulated per control sample with small integers only: the sum is carried into a high
# word so it never grows past 2**24 (32-bit ports turn larger integers into heap objects).

CARRY = 1 << 24


class Stats:
    def __init__(self):
        self.clear()

    def clear(self):
        self.n = 0
        self.lo = 0
        self.hi = 0
        self.peak = -32768
        self.min = 32767
        self.in_tol = 0

    def add(self, force, in_tol):
        self.n += 1
        lo = self.lo + force
        if lo >= CARRY:
            lo -= CARRY
            self.hi += 1
        elif lo <= -CARRY:
            lo += CARRY
            self.hi -= 1
        self.lo = lo
        if force > self.peak:
            self.peak = force
        if force < self.min:
            self.min = force
        if in_tol:
            self.in_tol += 1

    def merge(self, other):
        """Add another segment's samples (a phase's holds)."""
        self.n += other.n
        self.hi += other.hi
        self.lo += other.lo
        self.in_tol += other.in_tol
        if other.n:
            self.peak = max(self.peak, other.peak)
            self.min = min(self.min, other.min)


def mean(hi, lo, n):
    """Mean from a carried sum; called outside the tick (the product may be a big integer)."""
    return (hi * CARRY + lo) // n if n else 0
