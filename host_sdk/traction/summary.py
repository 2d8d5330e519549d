"""The session summary: what the device measured, from a verified record, in the units people read.

Every value here comes from the signed record; nothing a person typed is mixed in (billing adds the
clinician's context beside it, marked as such). Forces are newtons, times seconds, dates ISO 8601 UTC.
The schema name changes whenever a field changes meaning or goes away: "traction.session/1".
"""

from datetime import UTC, datetime

from traction.record import Record

SCHEMA = "traction.session/1"
STOP_EVENTS = ("STOP", "ESTOP", "STOP_SWITCH", "RECORD_FULL")  # RECORD_FULL: the board stopped it


def summarize(record: Record) -> dict:
    """The session summary (schema traction.session/1) of a verified record: SI units, ISO 8601 UTC dates."""
    head = record.head
    end = record.end
    return {
        "schema": SCHEMA,
        "record": {
            "id": record.record_id,
            "session_id": record.session_id,
            "format": head["v"],
            "seal": {"alg": record.seal["alg"], "mac": record.mac, "chain_head": record.seal["prev"]},
        },
        "device": {
            "serial": head["serial"],
            "fw": head["fw"],
            "board": head["board"],
            "cal_date": _date(head["cal_date_s"]),
            "hard_max_n": _n(head["hard_max_dn"]),
            "region_max_n": _n(head["region_max_dn"]),
        },
        "utc_start": _timestamp(head["utc_start_s"]),
        "region": head["region"].lower(),
        # a setting the clinician entered, not a measurement; None when the treatment file gave none
        "angle_deg": None if head["angle_dd"] is None else head["angle_dd"] / 10,
        "limits": {"session_max_n": _n(head["session_max_dn"]), "effective_n": _n(head["limit_dn"]),
                   "tolerance_n": _n(head["tolerance_dn"])},
        "phases": [_phase(i, planned, record) for i, planned in enumerate(head["phases"])],
        "treatment_s": _s(end["treatment_ms"]),
        "time_under_traction_s": _s(end["traction_ms"]),
        "hold_s": _s(sum(p["hold_ms"] for p in record.phases)),
        "elapsed_s": _s(end["end_ms"]),
        "peak_n": _n(end["peak_dn"]),
        "pauses": {"count": end["pauses"], "total_s": _s(end["paused_ms"]),
                   "at": [_event(e) for e in record.events if e["ev"] == "PAUSE"]},
        "edits": [_event(e) | {"target_n": _n(e["target_dn"])} for e in record.events if e["ev"] == "EDIT"],
        "faults": [_event(e) | {"fault": e["fault"]} for e in record.events if e["ev"] == "FAULT"],
        "stops": [_event(e) | {"by": e["ev"]} for e in record.events if e["ev"] in STOP_EVENTS],
        "end": {"reason": end["reason"], "fault": end["fault"]},
    }


def _phase(index: int, planned, record: Record) -> dict:
    done = next((p for p in record.phases if p["phase"] == index), None)
    out = {
        "index": index,
        "mode": planned["mode"].lower(),
        "force_n": _n(planned["force_dn"]),
        "base_n": _n(planned["base_dn"]),
        "hold_s": _s(planned["hold_ms"]),
        "rest_s": _s(planned["rest_ms"]),
        "ramp_up_s": _s(planned["ramp_up_ms"]),
        "ramp_down_s": _s(planned["ramp_down_ms"]),
        "steps": planned["steps"],
        "repeats": planned["repeats"],
        "duration_s": _s(planned["duration_ms"]),
        "delivered": None,
        "holds": [_hold(h) for h in record.holds if h["phase"] == index],
    }
    if done is not None:
        out["delivered"] = {
            "treatment_s": _s(done["ms"]),
            "cycles": done["cycles"],
            "mean_n": _n(done["mean_dn"]),
            "peak_n": _n(done["peak_dn"]),
            "hold_s": _s(done["hold_ms"]),
            "in_tolerance_s": _s(done["in_tol_ms"]),
            "in_tolerance_pct": _pct(done["in_tol_ms"], done["hold_ms"]),
        }
    return out


def _hold(h) -> dict:
    return {"cycle": h["cycle"], "target_n": _n(h["target_dn"]), "mean_n": _n(h["mean_dn"]),
            "peak_n": _n(h["peak_dn"]), "min_n": _n(h["min_dn"]), "s": _s(h["ms"]),
            "in_tolerance_pct": _pct(h["in_tol_ms"], h["ms"])}


def _event(e) -> dict:
    return {"at_s": _s(e["ms"]), "phase": e["phase"], "force_n": _n(e["force_dn"])}


def _n(dn: int) -> float:
    return dn / 10


def _s(ms: int) -> float:
    return ms / 1000


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _timestamp(seconds: int) -> str | None:
    if not seconds:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _date(seconds: int) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).date().isoformat() if seconds else None
