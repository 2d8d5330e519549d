# The second force channel: what the motor says about the line, checked against the load cell on every
# tick so that no single sensor can take the force past its ceiling (docs/safety.md, H-02..H-08).
#
#   current     the driver's current sense measures the torque the motor delivers: line tension plus
#               friction, losses and inertia. It fails differently from the load cell (another sensor,
#               another ADC, another wire). Load cell and current disagreeing beyond a band latches
#               FORCE_DISAGREE. The current is read in the tick; the load cell's sample shows the force
#               of up to cell_lag_ms before (its conversion, and the wait for the loop to read it), so
#               the load cell is compared with the current over that time.
#   motion      the encoder: a motor that moves the pulling way faster than any recent command could
#               make it is running away (MOTOR, cut now); a line wound in further than it can stretch
#               without the force rising means the reading has frozen or plateaued (ADC_IMPLAUSIBLE).
#               The line's stiffness (force per encoder count) is learnt on each ramp-up, within bounds
#               from the board config.
#
# update() runs inside the heap-locked tick: integers and preallocated rings only. It is the tick's
# costliest part (1.2 ms a tick on the RP2040 in a treatment; docs/firmware.md, RP2040 timing), so its
# rings are arrays of 32-bit words walked by the viper functions below, and it takes each attribute
# once. Not @micropython.native: the Pico's frozen native code (mpy-cross, armv6m) got a comparison
# wrong in a larger function where the same code compiled for the unix port did not.

import time
from array import array

import micropython
from traction_protocol.constants import FAULT

from .safety import ms_to_samples, worse

FORCE_DISAGREE = FAULT["FORCE_DISAGREE"]
ADC_IMPLAUSIBLE = FAULT["ADC_IMPLAUSIBLE"]
MOTOR = FAULT["MOTOR"]

AVG = 4  # samples averaged on both channels before they are compared (the current sense is noisy)
IDLE_SHIFT = 5  # the idle current is smoothed over 32 samples for its zero

DEFAULTS = {
    # FORCE_DISAGREE: |load cell - current| above disagree_min_dn + disagree_pct % of the force. The band
    # holds the current channel's friction (2 N), losses and inertia (< 4 N) and noise (1.5 N a sample,
    # averaged over 4), and its scale uncertainty (torque constant with temperature: a few %).
    "disagree_min_dn": 80,
    "disagree_pct": 4,
    # ... latched once the excess over the band, summed over consecutive samples, passes twice
    # disagree_min_dn (a large disagreement latches in one or two samples), or after this many samples
    # beyond it
    "disagree_samples": 20,
    # The longest the load cell's sample lags the current: the load cell is compared with the nearest of
    # the current's values over this time. An HX711 at 80 SPS: a conversion (12.5 ms) and up to a period
    # until the loop reads it; without this a snapped line, seen by the current a period or two first,
    # read as the two channels disagreeing (docs/safety.md)
    "cell_lag_ms": 30,
    # FORCE_DISAGREE (trend): within the band the two channels must still move together in a hold. The
    # mean of (load cell - current) over each block of trend_ms is compared with the first block of the
    # hold: its bias (friction, losses) stays put while the motor creeps on, so a change beyond
    # trend_min_dn + trend_pct % of the force's own change is one channel drifting (a reading that
    # plateaus at the ceiling while the motor creeps on, a slow gain or offset change). A hold: line
    # taut, the motor creeping on by at most trend_still_counts a block; speeding up or reversing
    # changes the friction and losses the current carries by more than a newton, which the band allows
    "trend_ms": 100,
    # ... latched when this many blocks in a row are beyond it: one block's mean carries a few newtons
    # of the current's noise and friction, and a single block just past the band tripped healthy holds
    # (1 in 24 seeds of a 60 s lumbar hold at 250 N after 2 minutes idle); a drifting channel stays out
    "trend_blocks": 3,
    "trend_still_counts": 60,
    "trend_min_dn": 45,
    "trend_pct": 2,
    # FORCE_DISAGREE (encoder): in a hold, the force rose by this much with the encoder still: a line
    # cannot tighten without the drum winding in, so the encoder has failed (the runaway check would be
    # blind)
    "encoder_still_rise_dn": 200,
    "encoder_still_counts": 2,
    # FORCE_DISAGREE (stuck): this many identical current readings in a row while driving (a live current
    # sense always has some noise; 0 switches the check off for a board whose ADC is that quiet)
    "current_stuck_samples": 25,
    "current_zero_tol_counts": 40,
    # The ceiling on the second channel: the motor may not wind in while the current shows the force
    # this far above the limit (its bias at a hold: friction about 1 N while creeping; noise 0.4 N
    # smoothed over 8 samples), so a load cell that reads low (plateau, gain, offset) cannot pull the
    # patient past it while the checks above take their time
    "pull_guard_dn": 15,  # at START, with the motor off, the current must read near its zero
    # MOTOR (runaway): the encoder moved the pulling way, over runaway_ms, by more than the fastest of the
    # commands of the last runaway_lag_ms could move it, plus a margin
    "runaway_ms": 50,
    "runaway_lag_ms": 200,  # the motor's lag and deceleration: a past command can still be moving it
    "runaway_margin_counts": 15,
    # ADC_IMPLAUSIBLE (frozen or plateaued reading): over motion_ms, line wound in beyond the creep that
    # holding a force needs (stress relaxation, the patient settling) should have raised the force by at
    # least half what the learnt stiffness says; checked only with the line taut and the motor pulling
    # steadily (every command of the window at least motion_cmd_pm: slowing down, the line's damping gives
    # force back though it is still wound in)
    "motion_ms": 80,
    "motion_cmd_pm": 50,
    "creep_counts_s": 400,
    "motion_margin_dn": 5,
    "motion_taut_dn": 100,
    "stiffness_min_dn_kc": 150,  # force per 1000 encoder counts, 0.1 N: the bounds of what is learnt
    "stiffness_max_dn_kc": 5000,
    "stiffness_learn_counts": 300,  # least travel from the taut point before a stiffness is learnt
}


# Viper: machine words, no objects. A ring is an array("i") read through ptr32; the sign is restored by
# hand because a 64-bit port (the unix port the tests run on) loads a 32-bit word zero-extended. Index
# arithmetic without % (the Cortex-M0+ has no divider): at is the newest entry, k entries back from it.


@micropython.viper
def ring_max(a: ptr32, n: int, floor: int) -> int:  # noqa: F821 - viper's pointer types
    """The largest of the n words of a, or floor when none is larger."""
    shift = 31
    sign = 1 << shift
    m = floor
    for j in range(n):
        v = (a[j] ^ sign) - sign
        if v > m:
            m = v
    return m


@micropython.viper
def ring_min(a: ptr32, n: int, at: int, k: int, ceil: int) -> int:  # noqa: F821
    """The smallest of the k newest words of the ring a (n long, newest at at), or ceil."""
    shift = 31
    sign = 1 << shift
    m = ceil
    for j in range(k):
        x = at - j
        if x < 0:
            x += n
        v = (a[x] ^ sign) - sign
        if v < m:
            m = v
    return m


@micropython.viper
def ring_sum(a: ptr32, n: int, at: int, k: int) -> int:  # noqa: F821
    """The sum of the k newest words of the ring a (n long, newest at at)."""
    shift = 31
    sign = 1 << shift
    s = 0
    for j in range(k):
        x = at - j
        if x < 0:
            x += n
        s += (a[x] ^ sign) - sign
    return s


@micropython.viper
def ring_nearest(a: ptr32, n: int, at: int, k: int, x: int, best: int) -> int:  # noqa: F821
    """Of best and the words 1..k-1 back from at in the ring a (n long), the one nearest x (the first
    on a tie)."""
    shift = 31
    sign = 1 << shift
    gap = x - best if x > best else best - x
    for j in range(1, k):
        y = at - j
        if y < 0:
            y += n
        c = (a[y] ^ sign) - sign
        d = x - c if x > c else c - x
        if d < gap:
            best = c
            gap = d
    return best


class CrossCheck:
    def __init__(self, params, current_cfg, encoder_cfg, period_us):
        p = dict(DEFAULTS)
        p.update(params or {})
        self.has_current = current_cfg is not None
        cc = current_cfg or {}
        self.dn_per_count = cc.get("dn_per_count", 0)
        self.cur_zero_cfg = cc.get("zero_counts", 0)
        rails = cc.get("rails") or (0, 0)
        self.cur_lo = rails[0]
        self.cur_hi = rails[1]
        self.zero_tol = p["current_zero_tol_counts"]
        self.pull_guard = p["pull_guard_dn"]
        self.band_min = p["disagree_min_dn"]
        self.band_pct = p["disagree_pct"]
        self.dis_max = p["disagree_samples"]
        self.excess_max = 2 * p["disagree_min_dn"]
        self.cell_lag = ms_to_samples(p["cell_lag_ms"], period_us) if p["cell_lag_ms"] else 0
        self.block_n = ms_to_samples(p["trend_ms"], period_us)
        self.trend_blocks = p["trend_blocks"]
        self.trend_min = p["trend_min_dn"]
        self.trend_pct = p["trend_pct"]
        self.still = p["trend_still_counts"]
        self.still_rise = p["encoder_still_rise_dn"]
        self.still_counts = p["encoder_still_counts"]
        self.stuck_max = p["current_stuck_samples"]
        full = (encoder_cfg or {}).get("full_speed_counts_s", 0)
        self.full = full  # counts per second at full speed; 0 without an encoder
        self.run_w = ms_to_samples(p["runaway_ms"], period_us)
        self.run_margin = p["runaway_margin_counts"]
        self.mot_w = ms_to_samples(p["motion_ms"], period_us)
        # the command ring covers the runaway's lag and _plateau's look back (mot_w + AVG)
        self.lag_n = max(ms_to_samples(p["runaway_lag_ms"], period_us), self.mot_w + AVG)
        self.creep = p["creep_counts_s"] * self.mot_w * period_us // 1000000
        self.mot_margin = p["motion_margin_dn"]
        self.taut = p["motion_taut_dn"]
        self.pull_cmd = p["motion_cmd_pm"]
        self.s_min = p["stiffness_min_dn_kc"]
        self.s_max = p["stiffness_max_dn_kc"]
        self.learn_counts = p["stiffness_learn_counts"]
        n = max(self.run_w, self.mot_w) + AVG + 1
        self.n = n
        self.pos = array("i", [0] * n)
        # each sample's ticks_ms: a late loop's window spans more time than its samples
        self.ms = array("i", [0] * n)
        self.force = array("i", [0] * n)
        self.cur = array("i", [0] * n)
        self.cmds = array("i", [0] * self.lag_n)
        # the current's force estimate over the load cell's lag
        self.cdn = array("i", [0] * (self.cell_lag + 1))
        self.cur_zero = self.cur_zero_cfg
        self.idle = 0  # smoothed idle current, x32
        self.idle_n = 0
        self.reset()

    def reset(self):
        """Forget the history (at boot and at START); the stiffness is learnt again on the first ramp."""
        for i in range(self.n):
            self.pos[i] = 0
            self.force[i] = 0
            self.cur[i] = 0
        for i in range(self.lag_n):
            self.cmds[i] = 0
        for i in range(self.cell_lag + 1):
            self.cdn[i] = 0
        self.ki = 0
        self.i = 0
        self.ci = 0
        self.filled = 0  # samples in the rings since the motor was last enabled
        self.dis_n = 0
        self.excess = 0
        self.stiff = 0  # learnt stiffness, dn per 1000 counts; 0 until learnt
        self.anchor = False
        self.a_pos = 0
        self.a_force = 0
        self.best = 0
        self.cur_dn = 0  # the current channel's force estimate (average), 0.1 N
        self.cur_smooth = 0  # its exponential smoothing, x8
        self._reset_trend()
        self.cur_last = 0
        self.cur_same = 0

    def _reset_trend(self):
        self.sum_diff = 0
        self.sum_force = 0
        self.in_block = 0
        self.last_pos = None  # the encoder at the end of the last block
        self.ref = False  # the hold's first block is the reference:
        self.ref_diff = 0  # its mean of (load cell - current)
        self.ref_force = 0
        self.ref_pos = 0
        self.out = 0  # blocks in a row beyond the band

    def tare(self, raw):
        """At START, motor off: the current's idle reading (smoothed while the motor was off, else this
        one) is its zero. False when it is too far from the calibrated zero to be a working sensor (or
        absent though the board config says it is fitted)."""
        if not self.has_current:
            return True
        if raw is None or abs(raw - self.cur_zero_cfg) > self.zero_tol:
            return False
        zero = self._idle_zero() if self.idle_n else raw
        if abs(zero - self.cur_zero_cfg) > self.zero_tol:
            return False
        self.cur_zero = zero
        return True

    def _idle(self, current):
        """Average the current while the motor is off, for its zero (one sample has 1.5 N of noise): the
        mean of the first 32 samples, then an exponential average over 32."""
        if current is None:
            return
        if self.idle_n < 1 << IDLE_SHIFT:
            self.idle_n += 1
            self.idle += current  # the sum of 32 is the exponential average's x32 form
        else:
            self.idle += current - (self.idle >> IDLE_SHIFT)

    def _idle_zero(self):
        n = self.idle_n
        return self.idle >> IDLE_SHIFT if n >= 1 << IDLE_SHIFT else self.idle // n

    def may_pull(self, limit):
        """False when the current channel shows the force above the limit (beyond its bias)."""
        return not self.has_current or self.filled < AVG or self.cur_smooth >> 3 < limit + self.pull_guard

    def current_ok(self, raw):
        """With the motor off, the current sense reads near its zero (a condition for CLEAR_FAULT)."""
        return not self.has_current or (raw is not None and abs(raw - self.cur_zero) <= self.zero_tol)

    def update(self, force, accepted, position, current, cmd, driving, now_ms):
        """One tick. force: the last accepted load-cell force; accepted: this tick's sample was plausible;
        position: encoder counts or None; current: raw counts or None; cmd: the speed commanded for the
        period that just ended; driving: the motor is enabled; now_ms: the tick's ticks_ms. 0, or the
        fault seen (the worst, if many)."""
        if not driving:
            self._idle(current)
            self.filled = 0
            self.dis_n = 0
            self.excess = 0
            self.anchor = False
            self.cur_same = 0
            self._reset_trend()
            self._push_cmd(0)
            return 0
        # (the rings' indexes wrap by comparison, locals stand for attributes: this runs every tick)
        n = self.n
        i = self.i + 1
        if i == n:
            i = 0
        self.i = i
        self.force[i] = force
        self.pos[i] = position if position is not None else 0
        self.ms[i] = now_ms
        sensed = current is not None and self.has_current
        if current is not None and sensed:  # current again: pyright does not follow sensed
            self.cur[i] = (current - self.cur_zero) * self.dn_per_count
        if self.filled < n:
            self.filled += 1
        self._push_cmd(cmd)
        # every check runs, each keeping its own history; the worst fault is returned
        fault = 0
        if position is not None:
            fault = self._runaway(position)
            if accepted:
                f = self._plateau(force, position)
                if f:
                    fault = worse(fault, f)
        if sensed:
            cur_dn = ring_sum(self.cur, n, i, AVG) // AVG  # pyright: ignore[reportArgumentType]
            self.cur_dn = cur_dn
            lag = self.cell_lag + 1
            ki = self.ki + 1
            if ki == lag:
                ki = 0
            self.ki = ki
            self.cdn[ki] = cur_dn
            # exponential smoothing over 8 samples, kept x8 in an integer
            if self.filled > 1:
                self.cur_smooth += self.cur[i] - (self.cur_smooth >> 3)
            else:
                self.cur_smooth = self.cur[i] << 3
            f = self._stuck(current)
            if f:
                fault = worse(fault, f)
            # A tick without a sample taken (the ADC slower than the loop, a spike held back) is left
            # out of the comparisons, not a break in the hold: an HX711 at 80 SPS leaves one tick in five
            # without a sample, and a block broken by each never closed (the trend check never ran).
            if accepted:
                f = self._disagree(current)
                if f:
                    fault = worse(fault, f)
                f = self._trend(force, position)
                if f:
                    fault = worse(fault, f)
        return fault

    def _push_cmd(self, cmd):
        ci = self.ci + 1
        self.ci = 0 if ci == self.lag_n else ci
        self.cmds[self.ci] = cmd

    def _runaway(self, position):
        if self.filled <= self.run_w or not self.full:
            return 0
        fastest = ring_max(self.cmds, self.lag_n, 0)  # pyright: ignore[reportArgumentType]
        i = self.i
        back = i - self.run_w
        if back < 0:
            back += self.n
        moved = position - self.pos[back]
        # The most the commands could have moved it: fastest x full speed x the time the window spans.
        # A late loop (a flash erase, a long command) leaves the motor running for longer than its
        # samples say; counted in samples it read as a runaway. ms keeps the products small ints.
        span_ms = time.ticks_diff(self.ms[i], self.ms[back])
        could = fastest * self.full // 1000 * span_ms // 1000
        return MOTOR if moved > could + self.run_margin else 0

    def _plateau(self, force, position):
        self._learn(force, position)
        if self.filled <= self.mot_w:
            return 0
        back = self.i - self.mot_w
        if back < 0:
            back += self.n
        before = self.force[back]
        taut = self.taut
        if force < taut or before < taut:
            return 0  # slack line, or part of the window was slack: winding in says nothing
        if ring_min(self.cmds, self.lag_n, self.ci, self.mot_w + AVG, 1000) < self.pull_cmd:  # pyright: ignore[reportArgumentType]
            return 0  # the motor slowed: the line's damping gives back force as it does
        wound = position - self.pos[back] - self.creep
        if wound <= 0:
            return 0
        s = self.stiff if self.stiff else self.s_min
        rose = force - before
        expected = s * wound // 2000  # half the learnt stiffness: the line stiffens and relaxes
        if expected < 2 * self.mot_margin:
            return 0  # too little travel to tell from the reading's noise
        return ADC_IMPLAUSIBLE if rose < expected - self.mot_margin else 0

    def _learn(self, force, position):
        """Secant stiffness from where the line came taut to the highest force since, on each ramp-up."""
        if force < self.taut:
            self.anchor = False
            return
        if not self.anchor:
            self.anchor = True
            self.a_pos = position
            self.a_force = force
            self.best = force
            return
        travel = position - self.a_pos
        if force > self.best + self.mot_margin and travel >= self.learn_counts:
            self.best = force
            s = (force - self.a_force) * 1000 // travel
            self.stiff = self.s_min if s < self.s_min else (self.s_max if s > self.s_max else s)

    def _stuck(self, current):
        if current == self.cur_last:
            self.cur_same += 1
        else:
            self.cur_same = 0
            self.cur_last = current
        return FORCE_DISAGREE if self.stuck_max and self.cur_same >= self.stuck_max else 0

    def _trend(self, force, position):
        """Block means of (load cell - current) in a hold; 0 or FORCE_DISAGREE when a block closes."""
        if self.filled < AVG:
            return 0
        self.sum_diff += force - self.cur[self.i]
        self.sum_force += force
        self.in_block += 1
        if self.in_block < self.block_n:
            return 0
        diff = self.sum_diff // self.block_n
        mean = self.sum_force // self.block_n
        pos = position if position is not None else 0
        travel = pos - self.last_pos if self.last_pos is not None else -1
        self.last_pos = pos
        self.sum_diff = 0
        self.sum_force = 0
        self.in_block = 0
        if mean < self.taut or not 0 <= travel <= self.still:
            self.ref = False  # not a hold
            return 0
        if not self.ref:
            self.ref = True
            self.out = 0
            self.ref_diff = diff
            self.ref_force = mean
            self.ref_pos = pos
            return 0
        moved = mean - self.ref_force
        allowed = self.trend_min + (moved if moved > 0 else -moved) * self.trend_pct // 100
        drift = diff - self.ref_diff
        self.out = self.out + 1 if drift > allowed or drift < -allowed else 0
        if self.out >= self.trend_blocks:
            return FORCE_DISAGREE
        if position is not None and moved > self.still_rise and pos - self.ref_pos <= self.still_counts:
            return FORCE_DISAGREE
        return 0

    def _nearest_current(self, a):
        """Of the current's force estimates over the load cell's lag, the one nearest a (the load cell's):
        its sample shows the force of some moment in that time, not necessarily now. Only estimates made
        since the motor was enabled count (each needs AVG samples)."""
        k = self.filled - AVG + 1
        if k > self.cell_lag + 1:
            k = self.cell_lag + 1
        return ring_nearest(self.cdn, self.cell_lag + 1, self.ki, k, a, self.cur_dn)  # pyright: ignore[reportArgumentType]

    def _disagree(self, current):
        if current <= self.cur_lo or current >= self.cur_hi:
            return FORCE_DISAGREE  # a current sense at its rails is no measurement
        if self.filled < AVG:
            return 0
        a = ring_sum(self.force, self.n, self.i, AVG) // AVG  # pyright: ignore[reportArgumentType]
        c = self._nearest_current(a)
        band = self.band_min + (a if a > c else c) * self.band_pct // 100
        d = a - c if a > c else c - a
        if d <= band:
            self.dis_n = 0
            self.excess = 0
            return 0
        self.dis_n += 1
        self.excess += d - band
        return FORCE_DISAGREE if self.excess > self.excess_max or self.dis_n >= self.dis_max else 0
