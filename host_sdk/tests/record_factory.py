"""Writes signed session records exactly as protocol/SPEC.md section 9.2 lays them out, for tests.

`session()` simulates what a board would record for a treatment plan (holds per cycle or step, phase
totals, end line), optionally cut short at a given treatment time by a fault or a stop; `write()` chains
and seals any list of lines, so tests can also build records the firmware would never write.
`context()` gives the example clinical context with changes, for the billing tests.
"""

import hashlib
import hmac
import json
import tomllib
from pathlib import Path

from traction.billing.context import Context

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
UTC_START_S = 1_783_503_000  # 2026-07-08 09:30:00 UTC
CAL_DATE_S = 1_780_000_000
MODE_NAMES = {1: "STATIC", 2: "INTERMITTENT", 3: "CYCLIC", 4: "PROGRESSIVE", 5: "REGRESSIVE"}


def write(lines: list, key: bytes = KEY) -> bytes:
    """Chain the lines (dicts with 't' and their fields) with `prev`, then append the seal."""
    out = []
    prev = "0" * 64
    for line in lines:
        text = json.dumps({"t": line["t"], "prev": prev, **{k: v for k, v in line.items() if k != "t"}})
        out.append(text)
        prev = hashlib.sha256(text.encode()).hexdigest()
    mac = hmac.new(key, bytes.fromhex(prev), hashlib.sha256).hexdigest()
    out.append(json.dumps({"t": "seal", "prev": prev, "alg": "HMAC-SHA256", "mac": mac}))
    return ("\n".join(out) + "\n").encode()


def phase(mode="INTERMITTENT", force_dn=3000, base_dn=1500, hold_ms=60_000, rest_ms=20_000,
          ramp_up_ms=5_000, ramp_down_ms=5_000, steps=0, repeats=0, duration_ms=600_000) -> dict:
    return {"mode": mode, "force_dn": force_dn, "base_dn": base_dn, "hold_ms": hold_ms, "rest_ms": rest_ms,
            "ramp_up_ms": ramp_up_ms, "ramp_down_ms": ramp_down_ms, "steps": steps, "repeats": repeats,
            "duration_ms": duration_ms}


def head(phases, region="LUMBAR", angle_dd=150, record=12, session_id=4242, serial="TU-000123",
         utc_start_s=UTC_START_S, board="sim", region_max_dn=8900, session_max_dn=4000) -> dict:
    limit = min(8900, region_max_dn, session_max_dn)
    return {"t": "head", "v": 1, "record": record, "session_id": session_id, "serial": serial, "fw": "1.0.0",
            "board": board, "cal_date_s": CAL_DATE_S, "utc_start_s": utc_start_s, "boot_ms": 81_250,
            "region": region, "angle_dd": angle_dd, "hard_max_dn": 8900, "region_max_dn": region_max_dn,
            "session_max_dn": session_max_dn, "limit_dn": limit, "tolerance_dn": 50, "phases": phases}


def session(phases=None, key: bytes = KEY, cut_at_ms=None, reason="COMPLETED", fault=None, events=(),
            **head_fields) -> bytes:
    """A whole signed record for a plan; `cut_at_ms` ends it early (with `reason` and `fault`)."""
    phases = phases or [phase()]
    lines, summary = simulate(phases, cut_at_ms)
    lines = merge_events(lines, list(events))
    if fault:
        at = summary["treatment_ms"]
        lines.append((at, {"t": "ev", "ms": at, "ev": "FAULT", "phase": summary["last_phase"],
                           "force_dn": 120, "fault": fault}))
    pauses = [e for e in events if e["ev"] == "PAUSE"]
    edits = [e for e in events if e["ev"] == "EDIT"]
    paused_ms = sum(e.get("paused_ms", 0) for e in pauses)
    end = {"t": "end", "reason": reason, "fault": fault, "treatment_ms": summary["treatment_ms"],
           "traction_ms": summary["traction_ms"], "peak_dn": summary["peak_dn"], "pauses": len(pauses),
           "paused_ms": paused_ms, "edits": len(edits),
           "end_ms": summary["treatment_ms"] + paused_ms + 12_000}
    body = [line for _, line in sorted(lines, key=lambda item: item[0])]
    return write([head(phases, **head_fields), *body, end], key)


def merge_events(lines, events):
    for e in events:
        line = {"t": "ev", **{k: v for k, v in e.items() if k != "paused_ms"}}
        lines.append((e["ms"], line))
    return lines


def simulate(phases, cut_at_ms=None):
    """(time, line) pairs for the hold and phase lines a board writes, and the session totals."""
    lines = []
    clock = 0
    traction_ms = 0
    peak = 0
    last = 0
    for index, p in enumerate(phases):
        last = index
        end = clock + p["duration_ms"]
        stop = end if cut_at_ms is None else min(end, cut_at_ms)
        holds = []
        for cycle, (start, length, target) in enumerate(segments(p)):
            seg_start = clock + start
            if seg_start >= stop:
                break
            ms = min(length, stop - seg_start)
            holds.append(hold_line(index, cycle, target, ms))
            lines.append((seg_start + ms, holds[-1]))
        spent = max(0, stop - clock)
        phase_peak = max([h["peak_dn"] for h in holds], default=min(p["force_dn"], 40))
        peak = max(peak, phase_peak)
        traction_ms += max(0, spent - 1_500) if spent else 0
        if spent:
            lines.append((stop, {
                "t": "phase", "phase": index, "mode": p["mode"], "ms": spent, "cycles": len(holds),
                "mean_dn": sum(h["mean_dn"] for h in holds) // len(holds) if holds else 0,
                "peak_dn": phase_peak, "in_tol_ms": sum(h["in_tol_ms"] for h in holds),
                "hold_ms": sum(h["ms"] for h in holds)}))
        clock = stop
        if cut_at_ms is not None and clock >= cut_at_ms:
            break
    return lines, {"treatment_ms": clock, "traction_ms": traction_ms, "peak_dn": peak, "last_phase": last}


def segments(p):
    """(start, length, target) of each hold or step within a phase, as SPEC section 8 times them."""
    mode = p["mode"]
    if mode == "STATIC":
        return [(p["ramp_up_ms"], p["duration_ms"] - p["ramp_up_ms"], p["force_dn"])]
    if mode in ("PROGRESSIVE", "REGRESSIVE"):
        step_ms = p["duration_ms"] // p["steps"]
        span = p["force_dn"] - p["base_dn"]
        if mode == "PROGRESSIVE":
            targets = [p["base_dn"] + span * k // p["steps"] for k in range(1, p["steps"] + 1)]
        else:
            targets = [p["force_dn"] - span * k // p["steps"] for k in range(p["steps"])]
        return [(k * step_ms + p["ramp_up_ms"], step_ms - p["ramp_up_ms"], t) for k, t in enumerate(targets)]
    cycle = p["ramp_up_ms"] + p["hold_ms"] + p["ramp_down_ms"] + p["rest_ms"]
    out = []
    start = 0
    count = p["repeats"] if mode == "CYCLIC" else None
    while start + p["ramp_up_ms"] < p["duration_ms"] and (count is None or len(out) < count):
        hold = min(p["hold_ms"], p["duration_ms"] - start - p["ramp_up_ms"])
        out.append((start + p["ramp_up_ms"], hold, p["force_dn"]))
        start += cycle
    return out


def hold_line(index, cycle, target, ms):
    return {"t": "hold", "phase": index, "cycle": cycle, "target_dn": target, "mean_dn": target - 4,
            "peak_dn": target + 9, "min_dn": target - 21, "ms": ms, "in_tol_ms": max(0, ms - 400)}


EXAMPLE_CONTEXT = Path(__file__).resolve().parents[2] / "examples" / "context_example.toml"


def context(changes=None, drop=()):
    """The example clinical context with dotted-key `changes` applied and `drop`ped keys removed."""
    data = tomllib.loads(EXAMPLE_CONTEXT.read_text())
    for dotted, value in (changes or {}).items():
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    for dotted in drop:
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        del node[leaf]
    return Context(data, "test context")
