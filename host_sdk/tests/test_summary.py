"""The session summary reports the record's facts in N and seconds, and nothing else."""

import json

import record_factory as factory
from traction.record import verify
from traction.summary import SCHEMA, summarize


def summary_of(data: bytes) -> dict:
    return summarize(verify(data, factory.KEY))


def test_completed_lumbar_intermittent_session():
    s = summary_of(factory.session())
    assert s["schema"] == SCHEMA == "traction.session/1"
    assert s["device"] == {"serial": "TU-000123", "fw": "1.0.0", "board": "sim", "cal_date": "2026-05-28",
                           "hard_max_n": 890.0, "region_max_n": 890.0}
    assert s["utc_start"] == "2026-07-08T09:30:00Z"
    assert s["region"] == "lumbar" and s["angle_deg"] == 15.0
    assert s["limits"] == {"session_max_n": 400.0, "effective_n": 400.0, "tolerance_n": 5.0}
    (phase,) = s["phases"]
    assert phase["mode"] == "intermittent"
    assert (phase["force_n"], phase["base_n"], phase["hold_s"], phase["rest_s"]) == (300.0, 150.0, 60.0, 20.0)
    assert phase["duration_s"] == 600.0
    assert phase["delivered"]["cycles"] == 7 and phase["delivered"]["mean_n"] == 299.6
    assert phase["delivered"]["hold_s"] == 415.0
    assert len(phase["holds"]) == 7
    assert phase["holds"][0] == {"cycle": 0, "target_n": 300.0, "mean_n": 299.6, "peak_n": 300.9,
                                 "min_n": 297.9, "s": 60.0, "in_tolerance_pct": 99.3}
    assert s["treatment_s"] == 600.0 and s["time_under_traction_s"] == 598.5 and s["hold_s"] == 415.0
    assert s["peak_n"] == 300.9
    assert s["pauses"] == {"count": 0, "total_s": 0.0, "at": []}
    assert s["edits"] == [] and s["faults"] == [] and s["stops"] == []
    assert s["end"] == {"reason": "COMPLETED", "fault": None}
    assert s["record"]["id"] == 12
    assert s["record"]["seal"]["mac"] == verify(factory.session(), factory.KEY).mac


def test_pauses_edits_and_stop_are_reported():
    events = [{"ev": "PAUSE", "ms": 90_000, "phase": 0, "force_dn": 2990, "paused_ms": 30_000},
              {"ev": "RESUME", "ms": 90_000, "phase": 0, "force_dn": 2985},
              {"ev": "EDIT", "ms": 200_000, "phase": 0, "force_dn": 2995, "target_dn": 2500},
              {"ev": "STOP", "ms": 300_000, "phase": 0, "force_dn": 2500}]
    s = summary_of(factory.session(events=events, cut_at_ms=300_000, reason="STOPPED"))
    assert s["pauses"] == {"count": 1, "total_s": 30.0, "at": [{"at_s": 90.0, "phase": 0, "force_n": 299.0}]}
    assert s["edits"] == [{"at_s": 200.0, "phase": 0, "force_n": 299.5, "target_n": 250.0}]
    assert s["stops"] == [{"at_s": 300.0, "phase": 0, "force_n": 250.0, "by": "STOP"}]
    assert s["end"]["reason"] == "STOPPED" and s["treatment_s"] == 300.0


def test_fault_before_any_hold_shows_no_hold_time():
    s = summary_of(factory.session(cut_at_ms=3_000, reason="FAULT", fault="ADC_SILENT"))
    assert s["faults"] == [{"at_s": 3.0, "phase": 0, "force_n": 12.0, "fault": "ADC_SILENT"}]
    assert s["end"] == {"reason": "FAULT", "fault": "ADC_SILENT"}
    assert s["hold_s"] == 0.0 and s["phases"][0]["holds"] == []
    assert s["phases"][0]["delivered"]["cycles"] == 0
    assert s["phases"][0]["delivered"]["in_tolerance_pct"] is None


def test_unreached_phases_have_no_delivery():
    phases = [factory.phase(mode="STATIC", force_dn=800, base_dn=0, duration_ms=120_000),
              factory.phase(mode="PROGRESSIVE", force_dn=1200, base_dn=800, steps=4, ramp_up_ms=2000,
                            duration_ms=240_000)]
    s = summary_of(factory.session(phases, region="CERVICAL", cut_at_ms=60_000, reason="STOPPED"))
    assert [p["mode"] for p in s["phases"]] == ["static", "progressive"]
    assert s["phases"][1]["delivered"] is None and s["phases"][1]["steps"] == 4
    assert s["region"] == "cervical"


def test_unset_clock_gives_no_start_time():
    assert summary_of(factory.session(utc_start_s=0))["utc_start"] is None


def test_summary_is_plain_json():
    s = summary_of(factory.session())
    assert json.loads(json.dumps(s)) == s
