# One fault-campaign scenario on the simulated board (MicroPython): a treatment that ramps to a hold AT
# the ceiling, a fault injected at a chosen moment (and, for a double fault, a motor runaway after it),
# then the true plant force, the fault latched, how long detection took and how the board ended.
# Used by benchmarks/fault_campaign.py (the sweep) and mp_test_campaign.py (its worst cases in CI).

import json

import fw_harness as h
from traction_fw import record
from traction_protocol.constants import FAULT_NAME

CEILING = {"cervical": 2500, "lumbar": 9000}  # the sim board's region maxima, 0.1 N
REGION_CODE = {"cervical": 1, "lumbar": 2}
RAMP_MS = 3000
RELEASE_AT_MS = RAMP_MS + 3000  # STOP for the "during a release" moment
FAULT_STATE = 6
RUNNING = 3
IDLE = 1
# the moments, as ms from START; "release" injects this long after a STOP
MOMENTS = {
    "top-1000": RAMP_MS - 1000, "top-500": RAMP_MS - 500, "top-250": RAMP_MS - 250,
    "top-100": RAMP_MS - 100, "top-50": RAMP_MS - 50, "top": RAMP_MS, "top+100": RAMP_MS + 100,
    "top+300": RAMP_MS + 300, "mid-hold": RAMP_MS + 2000, "release": 500,
}


def _inject(host, name, params):
    if name == "ESTOP":
        host.ok("ESTOP")
    elif name == "heartbeats_stop":
        host.heartbeat_every = 0
    else:
        host.sim.inject(name, **params)


def _ms(host):
    return host.sim.device_ms()


def _until_ms(host, t_ms, first):
    """Run until device time t_ms, noting the first latch (device ms) in first[0]."""
    while _ms(host) < t_ms:
        host.step()
        if first[0] is None and host.app.state == FAULT_STATE:
            first[0] = _ms(host)


def run(fault, params, moment, region, seed=1, then=None, hold_pct=100, loadcell=None):
    """then: None, or (delay_ms, fault, params) for a second fault after the first; hold_pct: the hold's
    force as % of the ceiling; loadcell: settings for the sim's load cell (e.g. its ADC's latency_ms and
    sps). Returns a dict."""
    cfg = h.config(region, seed=seed)
    cfg["loadcell"].update(loadcell or {})
    host = h.Host(cfg=cfg)
    host.seconds(1)  # booted a second before the treatment (a host's handshake takes longer)
    ceiling = CEILING[region]
    phase = h.phase(mode=1, force_dn=ceiling * hold_pct // 100, ramp_up_ms=RAMP_MS, ramp_down_ms=2000,
                    duration_ms=120000)
    host.start([phase], region=REGION_CODE[region], session_max=ceiling)
    t0 = _ms(host)
    first = [None]
    if moment == "release":
        _until_ms(host, t0 + RELEASE_AT_MS, first)
        host.ok("STOP")
        at = _ms(host) + MOMENTS[moment]
    else:
        at = t0 + MOMENTS[moment]
    _until_ms(host, at, first)
    state_at = host.app.state
    _inject(host, fault, params)
    injected = _ms(host)
    if then is not None:
        _until_ms(host, injected + then[0], first)
        _inject(host, then[1], then[2])
    end = _ms(host) + 30000  # long enough for a controlled release from the lumbar maximum
    quiet = _ms(host) + 15000  # a fault that latched nothing by then is latent: the treatment goes on
    while _ms(host) < end:
        host.step()
        if first[0] is None and host.app.state == FAULT_STATE:
            first[0] = _ms(host)
        if first[0] is not None and not host.board.motor.enabled() and _ms(host) > first[0] + 2000:
            break
        if first[0] is None and _ms(host) > quiet and host.app.state in (RUNNING, IDLE):
            break
    result = {
        "fault": fault, "params": params, "moment": moment, "region": region, "seed": seed,
        "then": then, "ceiling_dn": ceiling, "peak_dn": host.sim.peak_force_dn(),
        "state_at_injection": state_at, "latched": FAULT_NAME.get(host.app.fault),
        "detect_ms": None if first[0] is None else first[0] - injected,
        "motor_enabled": host.board.motor.enabled(), "state": host.app.state,
        "events": _session_faults(host.events),
        "stop_switch_events": len([e for e in host.events if e["kind"] == 4]),
    }
    result["recorded"] = _recorded(host)
    h.cleanup()
    return result


def _session_faults(events):
    """The FAULT events the host saw before the record was sealed (later ones are the board's, not the
    session's)."""
    out = []
    for e in events:
        if e["kind"] == 8:
            break
        if e["kind"] == 3:
            out.append(FAULT_NAME.get(e["code"]))
    return out


def _recorded(host):
    """The fault and stop-switch ev lines of the session's record (after it is sealed)."""
    host.seconds(1)
    ids = host.records()
    if not ids:
        return None
    data = host.read_record(ids[-1])
    if not record.verify(data, host.key()):
        return "UNVERIFIED"
    out = []
    for line in data.split(b"\n"):
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d.get("t") == "ev" and d.get("ev") in ("FAULT", "ESTOP", "STOP_SWITCH"):
            out.append(d.get("fault") or d.get("ev"))
    return out


def main(path):
    """The benchmark's worker: one scenario per line of the JSON-lines file at path, one result line each."""
    with open(path) as f:
        for line in f:
            s = json.loads(line)
            then = s.get("then")
            print(json.dumps(run(s["fault"], s["params"], s["moment"], s["region"], s["seed"],
                                 tuple(then) if then else None)))
