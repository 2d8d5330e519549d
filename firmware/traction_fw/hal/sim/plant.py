# The mechanics behind the simulated board: a winch motor, the harness line and the patient.
# Floats are fine here: the plant steps in Clock.wait_tick, outside the application's tick.
#
# Line geometry: x is line wound in by the motor (m). The harness is slack until x passes slack_m;
# beyond that the patient is stretched by d = x - slack_m - y, where y is the patient's own movement
# toward the unit. The patient is a standard linear solid: a stiffening spring k*d + k2*d^2 in parallel
# with a Maxwell branch (spring relax_k in series with a damper, time constant relax_tau_s) and a
# viscous damper. Under a constant stretch the Maxwell force decays, so holding a force means winding in.
# The line only pulls: the force is never negative.
#
# drive_n is what the motor delivers at the line to move it as it does: the line tension, friction
# (Coulomb, smoothed through zero speed), viscous and back-EMF losses, and the reflected inertia. The
# current sense measures that (Motor.sense), so it is a second view of the tension that fails
# differently from the load cell.

SUBSTEPS = 2  # 5 ms: well inside the motor lag and the back-drive time constant


class Plant:
    def __init__(self, motor, patient, rng):
        self.vmax = motor["max_speed_m_s"]
        self.lag = motor["lag_s"]
        self.amax = motor["max_accel_m_s2"]
        self.stall_n = motor["stall_force_n"]
        self.backdrive = motor["backdrive_n_s_per_m"]
        self.counts_per_m = motor["encoder_counts_per_m"]
        self.friction_n = motor["friction_n"]
        self.viscous = motor["viscous_n_s_per_m"]
        self.inertia = motor["inertia_kg"]
        self.slack0 = patient["slack_m"]
        self.slack = self.slack0
        self.k = patient["k_n_per_m"]
        self.k2 = patient["k2_n_per_m2"]
        self.relax_k = patient["relax_k_n_per_m"]
        self.relax_tau = patient["relax_tau_s"]
        self.damping = patient["damping_n_s_per_m"]
        self.move_every_s = patient["move_every_s"]
        self.move_m = patient["move_mm"] / 1000.0
        self.move_s = patient["move_s"]
        self.rng = rng
        self.x = 0.0  # line wound in (m)
        self.v = 0.0  # line speed (m/s), positive winds in
        self.u = 0.0  # Maxwell branch spring stretch (m)
        self.y = 0.0  # patient movement toward the unit (m)
        self.y_goal = 0.0
        self.force = 0.0  # true line force (N)
        self.drive_n = 0.0  # force the motor delivers at the line (N); 0 when not driving
        self.peak = 0.0
        self.snapped = False
        self.stalled = False

    def step(self, dt, enabled, speed_pm):
        """Advance dt seconds with the motor enabled or not and commanded at speed_pm (per-mille)."""
        self._patient_moves(dt)
        h = dt / SUBSTEPS
        for _ in range(SUBSTEPS):
            self._substep(h, enabled, speed_pm)
        if self.force > self.peak:
            self.peak = self.force

    def encoder(self):
        return int(self.x * self.counts_per_m)

    def reattach(self):
        """Mend a snapped line: it is slack again from where the drum is now."""
        self.snapped = False
        self.slack = self.x - self.y + self.slack0
        self.u = 0.0

    def _patient_moves(self, dt):
        if self.move_every_s > 0 and self.rng.chance(dt / self.move_every_s):
            self.y_goal = (2.0 * self.rng.uniform() - 1.0) * self.move_m

    def _motor_speed(self, h, enabled, speed_pm):
        if self.stalled:
            return 0.0
        if not enabled:
            # An unpowered winch is back-driven by the line tension.
            return -self.force / self.backdrive
        want = speed_pm * self.vmax / 1000.0
        ceiling = self.vmax * (1.0 - self.force / self.stall_n)  # the motor slows under load
        if want > ceiling:
            want = ceiling
        dv = (want - self.v) * h / self.lag
        lim = self.amax * h
        if dv > lim:
            dv = lim
        elif dv < -lim:
            dv = -lim
        return self.v + dv

    def _substep(self, h, enabled, speed_pm):
        v0 = self.v
        self.v = self._motor_speed(h, enabled, speed_pm)
        self._tension(h)
        if not enabled:
            self.drive_n = 0.0
            return
        slip = self.v / 0.001  # Coulomb friction, smoothed over +-1 mm/s
        slip = 1.0 if slip > 1.0 else (-1.0 if slip < -1.0 else slip)
        self.drive_n = (self.force + self.friction_n * slip + self.viscous * self.v
                        + self.inertia * (self.v - v0) / h)

    def _tension(self, h):
        self.x += self.v * h
        dy = self.y_goal - self.y
        step = self.move_m * h / self.move_s if self.move_s > 0 else abs(dy)
        if dy > step:
            dy = step
        elif dy < -step:
            dy = -step
        self.y += dy
        d = self.x - self.slack - self.y
        if self.snapped or d <= 0.0:
            self.u -= self.u * h / self.relax_tau
            self.force = 0.0
            return
        d_rate = self.v - dy / h
        self.u += (d_rate - self.u / self.relax_tau) * h
        f = self.k * d + self.k2 * d * d + self.relax_k * self.u + self.damping * d_rate
        self.force = f if f > 0.0 else 0.0
