# The force controller: target and measured force (0.1 N) in, motor speed (per-mille, positive winds in)
# out. It asks for a force rate, then divides by the plant's gain to get a speed:
#
#   rate wanted = ff * target slope + bandwidth * error + integral of error, within +-max_rate
#   speed       = rate wanted / gain(force),   gain(force) = gain0 + gain1 * force
#
# gain is how fast the force rises per per-mille of speed (0.1 N/s per per-mille). The harness and the
# patient stiffen as they stretch, so the gain grows with force; scheduling on it keeps the loop's
# bandwidth the same across a region's force range. The integral removes the error that stress
# relaxation leaves under P alone (a static hold needs the motor to keep winding in). Anti-windup: the
# integral holds still while the line is slack, while the error is outside a small zone and while the
# output is limited in the error's direction. Speeding up is rate-limited (slew); slowing down is not.
#
# update() runs inside the heap-locked tick: integers only, and every intermediate stays a small int on a
# 32-bit port (|x| < 2**30), so errors and rates are clamped and gains are fixed point (Q8, Q16, Q20).
#
# params (board config "control"/<region>; floats allowed, converted once here):
#   gain0      0.1 N/s per per-mille at zero force       gain1   its growth per 0.1 N of force
#   bandwidth  1/s: how fast the proportional path closes an error
#   ff         share of the target's slope fed forward (<= 1): a little under 1 so that where the plant
#              is stiffer than the gain model (fast ramps, a patient just rested) the force approaches
#              a hold from below rather than overshooting it
#   ti_s       integral time, s
#   max_rate_dn_s  the force rate the controller may ask for, either way. It bounds the line speed while
#              slack (speed = max_rate / gain0), so the line comes taut gently, and the pull toward a
#              distant target; keep it at or under the safety's RATE limit
#   slew       per-mille the output may speed up per control period (it may slow down at once)
#   taut_dn    below this measured force the line is slack: winding in slack says nothing about the
#              force the patient needs, so the integral waits
#   i_zone_dn  the integral acts only on errors smaller than this (slack take-up and new targets are
#              the proportional path's job; integrating them would overshoot)

OUT_MAX = 1000
E_MAX = 20000  # 0.1 N
RATE_MAX = 20000  # 0.1 N/s
I_MAX = 10000 << 16  # 0.1 N/s, Q16
F_MAX = 30000  # 0.1 N, for the gain schedule
# Largest fixed-point gains accepted; with the clamps above they bound every intermediate of update()
# below 2**30 (tests/mp_test_control.py checks the arithmetic).
GAIN0_Q8_MAX = 65536
GAIN1_Q20_MAX = 16384
BW_Q8_MAX = 16384
FF_Q8_MAX = 512
KI_Q16_MAX = 65536
I_ZONE_MAX = 2000


def _clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


class Controller:
    def __init__(self, params, period_us):
        dt = period_us / 1000000.0
        if not params["ti_s"] > 0:
            raise ValueError("controller ti_s must be positive")
        self.gain0_q8 = int(params["gain0"] * 256 + 0.5)
        self.gain1_q20 = int(params["gain1"] * 1048576 + 0.5)
        self.bw_q8 = int(params["bandwidth"] * 256 + 0.5)
        self.ff_q8 = int(params["ff"] * 256 + 0.5)
        self.rate_max_q8 = int(params["max_rate_dn_s"]) << 8
        self.ki_q16 = int(params["bandwidth"] / params["ti_s"] * dt * 65536 + 0.5)  # per period
        self.slew = int(params["slew"])
        self.taut_dn = int(params["taut_dn"])
        self.i_zone = int(params["i_zone_dn"])
        checks = (
            1 <= self.gain0_q8 <= GAIN0_Q8_MAX,
            0 <= self.gain1_q20 <= GAIN1_Q20_MAX,
            0 < self.bw_q8 <= BW_Q8_MAX,
            0 <= self.ff_q8 <= FF_Q8_MAX,
            0 < self.rate_max_q8 <= RATE_MAX << 8,
            0 <= self.ki_q16 <= KI_Q16_MAX,
            1 <= self.slew <= 2 * OUT_MAX,
            0 <= self.i_zone <= I_ZONE_MAX,
        )
        if False in checks:
            raise ValueError("controller parameter out of range")
        self.i_q16 = 0
        self.out = 0

    def reset(self):
        """Forget the integral and start from a stopped motor (call whenever the motor is enabled)."""
        self.i_q16 = 0
        self.out = 0

    def update(self, target_dn, measured_dn, ramp_rate_dn_s):
        # the clamps written out, not _clamp() calls: 191 -> 165 us a call on the RP2040
        e = target_dn - measured_dn
        if e < -E_MAX:
            e = -E_MAX
        elif e > E_MAX:
            e = E_MAX
        rate = ramp_rate_dn_s
        if rate < -RATE_MAX:
            rate = -RATE_MAX
        elif rate > RATE_MAX:
            rate = RATE_MAX
        f = measured_dn
        if f < 0:
            f = 0
        elif f > F_MAX:
            f = F_MAX
        gain_q8 = self.gain0_q8 + ((f * self.gain1_q20) >> 12)
        i_q16 = self.i_q16
        want_q8 = self.ff_q8 * rate + self.bw_q8 * e + (i_q16 >> 8)
        top = self.rate_max_q8
        limited = want_q8 > top or want_q8 < -top
        if want_q8 < -top:
            want_q8 = -top
        elif want_q8 > top:
            want_q8 = top
        demand = want_q8 // gain_q8
        out = demand
        if out < -OUT_MAX:
            out = -OUT_MAX
        elif out > OUT_MAX:
            out = OUT_MAX
        # Speeding up is rate-limited; slowing down is not: a late stop is what overshoots.
        last = self.out
        slew = self.slew
        if last >= 0:
            lo = -slew
            hi = last + slew
        else:
            lo = last - slew
            hi = slew
        if out < lo:
            out = lo
        elif out > hi:
            out = hi
        if measured_dn >= self.taut_dn and -self.i_zone < e < self.i_zone and not limited:
            if (e > 0 and out >= demand) or (e < 0 and out <= demand):
                self.i_q16 = _clamp(i_q16 + self.ki_q16 * e, -I_MAX, I_MAX)
        self.out = out
        return out
