# Treatment sessions on the simulated board: each mode traced against its profile (SPEC section 8) from
# the board's own telemetry, the force following it in holds; pause, resume, force edit, stop and the
# end-of-treatment release; treatment time and time under traction.

import json
from array import array

import fw_harness as h
from hazard import hazard
from mp_test_profile import expected
from traction_fw import profile

IDLE = 1
RUNNING = 3
PAUSED = 4
RELEASING = 5
PERIOD_MS = 10


def _phases(specs):
    return [profile.Phase(h.phase(**s)) for s in specs]


def trace(region, specs, hold_tol_pct=2):
    """Run the session to its end; check every running sample against the reference profile."""
    rc = 1 if region == "cervical" else 2
    host = h.Host(region=region)
    total = sum(s["duration_ms"] for s in specs)
    check = RowCheck(specs)
    host.on_telemetry = check.row
    host.start(specs, region=rc, telemetry_div=1)
    # every running sample is checked as it arrives: a whole session's rows would not fit a board's heap
    assert host.until(lambda: host.app.state == IDLE, total / 1000 + 30), "did not finish"
    assert check.n == total // PERIOD_MS - 1, "%d running samples for %d ms" % (check.n, total)
    assert check.worst_hold <= hold_tol_pct, "force off its hold target by %d %%" % check.worst_hold
    ids = host.records()
    end = json.loads(host.read_record(ids[-1]).split(b"\n")[-3])
    assert end["reason"] == "COMPLETED" and end["treatment_ms"] == total
    return host


class RowCheck:
    """Each running telemetry row against the reference profile (the tick that reaches the end already
    reports the release)."""

    def __init__(self, specs):
        self.n = 0
        self.first = None
        self.worst_hold = 0
        self.bounds = []
        t0 = 0
        start_dn = 0
        for p in _phases(specs):
            self.bounds.append((t0, p, start_dn))
            p.at(p.duration - 1, start_dn)
            start_dn = p.target
            t0 += p.duration

    def row(self, r):
        n, force, target, st, ph, seg = r
        if st != RUNNING:
            return
        self.n += 1
        if self.first is None:
            self.first = n
        bounds = self.bounds
        t = (n - self.first + 1) * PERIOD_MS
        i = len([b for b in bounds if b[0] <= t]) - 1
        t_in = t - bounds[i][0]
        p = bounds[i][1]
        want, want_seg = expected(p, t_in, bounds[i][2])
        # one or two ticks of timing, on a ramp, are worth that much target
        before = expected(p, max(0, t_in - 2 * PERIOD_MS), bounds[i][2])[0]
        after = expected(p, min(p.duration - 1, t_in + 2 * PERIOD_MS), bounds[i][2])[0]
        slack = max(abs(after - want), abs(want - before)) + 3
        assert abs(target - want) <= slack, "t=%d phase %d: target %d, profile %d" % (t, i, target, want)
        near_edge = expected(p, max(0, t_in - 2 * PERIOD_MS), bounds[i][2])[1] != want_seg
        if not near_edge:
            assert ph == i and seg == want_seg, "t=%d: phase/segment %d/%d, want %d/%d" % (
                t, ph, seg, i, want_seg)
        settled = expected(p, max(0, t_in - 1500), bounds[i][2])[1] == want_seg
        if seg in (profile.HOLD, profile.STEP) and settled and t_in >= 1500:
            self.worst_hold = max(self.worst_hold, abs(force - target) * 100 // max(target, 1))


def test_static():
    trace("lumbar", [dict(mode=1, force_dn=4000, ramp_up_ms=4000, duration_ms=12000)])


def test_intermittent_lumbar():
    trace("lumbar", [dict(mode=2, force_dn=5000, base_dn=2500, hold_ms=4000, rest_ms=2000, ramp_up_ms=3000,
                          ramp_down_ms=2000, duration_ms=25000)])


def test_cyclic_cervical():
    trace("cervical", [dict(mode=3, force_dn=1200, base_dn=400, hold_ms=3000, rest_ms=2000, ramp_up_ms=3000,
                            ramp_down_ms=2000, repeats=2, duration_ms=20000)])


def test_progressive_and_regressive_chained():
    trace("cervical", [
        dict(mode=4, force_dn=1500, base_dn=300, steps=3, ramp_up_ms=2000, ramp_down_ms=1000,
             duration_ms=15000),
        dict(mode=5, force_dn=1500, base_dn=600, steps=3, ramp_up_ms=1000, ramp_down_ms=2000,
             duration_ms=15000),
        dict(mode=1, force_dn=800, ramp_up_ms=2000, ramp_down_ms=3000, duration_ms=6000),
    ])


def _status(host):
    return host.status().fields


def test_pause_holds_the_force_and_freezes_the_timer():
    host = h.Host()
    host.start([h.phase(mode=2, force_dn=5000, base_dn=2000, hold_ms=5000, rest_ms=3000, ramp_up_ms=3000,
                        ramp_down_ms=2000, duration_ms=30000)], region=2)
    host.seconds(3.5)  # early in the hold
    held = host.app.force()
    host.ok("PAUSE")
    assert host.app.state == PAUSED
    assert host.ok("PAUSE")["state"] == PAUSED  # no change
    t0 = _status(host)["treatment_ms"]
    host.seconds(6)  # longer than the hold: a running timer would have moved to the ramp down
    s = _status(host)
    assert s["treatment_ms"] == t0 and s["state"] == PAUSED
    assert abs(s["force_dn"] - held) <= held * 2 // 100 and abs(s["target_dn"] - held) <= 5
    host.ok("RESUME")
    host.seconds(1)
    s = _status(host)
    assert s["state"] == RUNNING and 900 <= s["treatment_ms"] - t0 <= 1100
    assert s["segment"] == profile.HOLD
    host.ok("STOP")
    assert host.until(lambda: host.app.state == IDLE, 30)
    end = json.loads(host.read_record(host.records()[0]).split(b"\n")[-3])
    assert end["reason"] == "STOPPED" and end["pauses"] == 1 and 5900 <= end["paused_ms"] <= 6200


def test_edit_force_timer_waits_for_the_new_force():
    host = h.Host()
    host.start([h.phase(mode=1, force_dn=3000, ramp_up_ms=3000, duration_ms=20000)], region=2,
               session_max=7000, tolerance=50)
    host.seconds(6)
    assert host.cmd("EDIT_FORCE", force_dn=7001)["error"] == 3  # OVER_LIMIT: the link cannot raise it
    host.ok("EDIT_FORCE", force_dn=5000)
    t0 = _status(host)["treatment_ms"]
    frozen = 0
    while host.app.session.awaiting:
        host.step()
        frozen += 1
        assert frozen < 1500, "never reached the new force"
        assert host.app.session.treatment_ms == t0 or host.app.session.treatment_ms <= t0 + PERIOD_MS
    assert abs(host.app.force() - 5000) <= 50
    assert frozen * PERIOD_MS >= 500  # 2000 dn at the board's slew rate takes a while
    assert host.until(lambda: host.app.state == IDLE, 40)
    lines = [json.loads(x) for x in host.read_record(host.records()[0]).split(b"\n")[:-1]]
    edits = [x for x in lines if x.get("ev") == "EDIT"]
    assert len(edits) == 1 and edits[0]["target_dn"] == 5000
    end = lines[-2]
    assert end["edits"] == 1 and end["treatment_ms"] == 20000
    assert end["end_ms"] >= 20000 + frozen * PERIOD_MS - 20
    assert [x for x in lines if x["t"] == "hold"][-1]["target_dn"] == 5000


class Releasing:
    """A Host.trace keeping the target of each RELEASING tick, packed: a whole release's tuples would not
    fit a board's heap."""

    def __init__(self):
        self.targets = array("h")

    def append(self, row):
        if row[3] == RELEASING:
            self.targets.append(row[2])


def test_stop_releases_gradually_at_most_the_release_rate():
    host = h.Host()
    host.start([h.phase(mode=1, force_dn=6000, ramp_up_ms=4000, ramp_down_ms=1000, duration_ms=60000)],
               region=2)
    host.seconds(8)
    host.ok("STOP")
    assert host.app.state == RELEASING
    host.trace = Releasing()
    assert host.until(lambda: host.app.state == IDLE, 40)
    targets = host.trace.targets
    fastest = max(a - b for a, b in zip(targets, targets[1:]))
    assert fastest <= 500 * PERIOD_MS // 1000 + 1, "release fell %d per tick" % fastest  # 50 N/s
    assert len(targets) * PERIOD_MS >= 12000  # 600 N at 50 N/s
    assert host.app.state == IDLE and not host.board.motor.enabled()
    assert host.ok("STOP")["state"] == IDLE  # no change


def test_release_never_slower_than_ten_seconds():
    host = h.Host()
    host.start([h.phase(mode=1, force_dn=3000, ramp_up_ms=3000, ramp_down_ms=60000, duration_ms=6000)],
               region=2)
    host.trace = Releasing()
    assert host.until(lambda: host.app.state == IDLE, 40)
    ramp = sum(1 for t in host.trace.targets if t > 0)  # counted, not listed: a 140 KB heap
    assert 9500 <= ramp * PERIOD_MS <= 10100


def test_treatment_and_traction_time():
    host = h.Host()
    host.start([h.phase(mode=2, force_dn=3000, base_dn=0, hold_ms=3000, rest_ms=3000, ramp_up_ms=2000,
                        ramp_down_ms=1000, duration_ms=18000)], region=2)
    host.seconds(9)
    s = _status(host)
    assert 8900 <= s["treatment_ms"] <= 9100 and 8900 <= s["remaining_ms"] <= 9100
    # the line is slack at the start and through the rest at zero: traction time is clearly less
    assert 4000 <= s["traction_ms"] <= 7500
    assert host.until(lambda: host.app.state == IDLE, 40)


@hazard("H-01")
def test_no_false_faults_at_the_limit_or_after_fast_ramps():
    cases = (
        ("cervical", 1, h.phase(mode=1, force_dn=2500, ramp_up_ms=0, duration_ms=15000), 2500),
        ("lumbar", 2, h.phase(mode=2, force_dn=8000, base_dn=0, hold_ms=5000, rest_ms=5000, ramp_up_ms=1000,
                              ramp_down_ms=1000, duration_ms=30000), 9000),
        ("lumbar", 2, h.phase(mode=1, force_dn=9000, ramp_up_ms=0, duration_ms=15000), 9000),
    )
    for region, rc, p, limit in cases:
        host = h.Host(region=region)
        host.start([p], region=rc, session_max=limit)
        assert host.until(lambda: host.app.state in (IDLE, 6), 60)  # noqa: B023
        assert host.app.state == IDLE, "%s %d: fault %d" % (region, p["force_dn"], host.app.fault)
        assert host.sim.peak_force_dn() <= limit * 1005 // 1000
        h.cleanup()
