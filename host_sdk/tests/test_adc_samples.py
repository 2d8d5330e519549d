"""Every load-cell conversion at the ADC's own rate (SAMPLES, SPEC 5.1): the SDK asks for them only when
told, keeps them with the session with its losses counted, and a damaged line costs samples, never the
session."""

import math

import pytest
from fakeboard import KEY, FakeBoard, signed_record
from hypothesis import given, settings
from hypothesis import strategies as st
from traction.adc import WRAP, AdcStream
from traction.device import Device
from traction.errors import TractionError
from traction.session import Session
from traction.store import Store
from traction.treatment import Treatment


def _static(seconds, force="250 N"):
    return Treatment.from_toml(f'region = "lumbar"\nbody_weight = "80 kg"\n[[phase]]\nmode = "static"\n'
                               f'force = "{force}"\nramp_up = "5 s"\nduration = "{seconds} s"\n')


def samples(first, counts, sample=1000, sps=660, zero=1400, span_counts=400000, span_dn=1000, behind=0):
    return {"first": first, "sample": sample, "behind": behind, "sps": sps, "zero_counts": zero,
            "span_counts": span_counts, "span_dn": span_dn, "counts": counts}


# ---- the stream's bookkeeping ----

def test_counts_become_forces_and_times_with_the_frames_own_conversion():
    adc = AdcStream(control_hz=100)
    batch = adc.add(samples(10, [1400, 401400, -398600], sample=250, behind=4))
    assert batch.force_n == pytest.approx((0.0, 100.0, -100.0))  # 4000 counts per newton
    # control sample 250 ended at 2.5 s, 4 conversions after the last; the others 1/660 s apart before it
    assert batch.t_s == pytest.approx((2.5 - 6 / 660, 2.5 - 5 / 660, 2.5 - 4 / 660))
    assert list(adc.numbers) == [10, 11, 12] and adc.lost == 0 and len(adc) == 3


def test_gaps_are_counted_across_the_wrap_and_numbers_keep_rising():
    adc = AdcStream(control_hz=100)
    adc.add(samples(WRAP - 3, [0, 0]))
    adc.add(samples(WRAP - 1, [0, 0]))  # WRAP - 1, then 0: no gap at the wrap
    batch = adc.add(samples(5, [0]))  # 1..4 lost
    assert batch.lost_before == 4 and adc.lost == 4
    assert list(adc.numbers) == [WRAP - 3, WRAP - 2, WRAP - 1, WRAP, WRAP + 5]


def test_an_uncalibrated_board_gives_counts_without_forces():
    adc = AdcStream(control_hz=100)
    batch = adc.add(samples(0, [5, 6], zero=0, span_counts=0, span_dn=0))
    assert batch.force_n is None and all(math.isnan(f) for f in adc.force_n) and list(adc.counts) == [5, 6]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, WRAP - 1), st.integers(0, 56), st.integers(1, 65535),
                          st.integers(-(1 << 31), (1 << 31) - 1)), max_size=30))
def test_any_sequence_of_frames_is_kept_without_error(frames):
    """Whatever numbers, sizes, rates and calibrations arrive (a board restarting, frames lost or damaged
    and dropped): every conversion is kept, numbers never go backwards, lost never decreases."""
    adc = AdcStream(control_hz=100)
    total = 0
    lost = 0
    for first, n, sps, span in frames:
        adc.add(samples(first, [first % 1000] * n, sps=sps, span_counts=span))
        total += n
        assert adc.lost >= lost
        lost = adc.lost
    assert len(adc) == len(adc.numbers) == len(adc.t_s) == len(adc.force_n) == total
    assert all(b > a for a, b in zip(adc.numbers, adc.numbers[1:], strict=False))


# ---- the session asks, only when told ----

def _run(board, tmp_path, **kw):
    got = []
    with Store(tmp_path / "t.db") as store, Device.open(board.url, store=store, key=KEY) as dev:
        session = Session(dev, _static(60), **kw).start()
        board.send("SAMPLES", samples(0, [1400] * 33, sample=2000))
        board.send("SAMPLES", samples(40, [401400] * 33, sample=2005))  # 7 lost between them
        board.send("TELEMETRY", {"sample": 2005, "period_us": 10000, "state": 3, "phase": 0, "segment": 2,
                                 "samples": [(1000, 2500)]})
        got.append(next(session.telemetry(timeout=3)))
        board.records = {3: signed_record(record_id=3, session_id=session.session_id)}
        board.state = 1
        board.send("EVENT", {"event": 1, "ms": 60000, "kind": 8, "code": 0, "value": 3})
        session.wait(timeout=5)
    return session, got


def test_a_session_with_adc_samples_streams_them_and_turns_the_stream_off_at_its_end(tmp_path):
    board = FakeBoard()
    batches = []
    try:
        session, _ = _run(board, tmp_path, adc_samples=True, on_adc_samples=batches.append)
    finally:
        board.close()
    ex = board.executed
    assert ex.index("STREAM") < ex.index("START") and board.fields["STREAM"] == {"samples": 0}
    assert ex.count("STREAM") == 2
    assert len(session.adc) == 66 and session.adc.lost == 7 and session.adc.sps == 660
    assert [b.lost_before for b in batches] == [0, 7]
    assert session.adc.force_n[0] == 0.0 and session.adc.force_n[-1] == pytest.approx(100.0)


def test_a_session_without_them_never_asks_and_ignores_them(tmp_path):
    board = FakeBoard()
    try:
        session, got = _run(board, tmp_path)
    finally:
        board.close()
    assert "STREAM" not in board.executed and session.adc is None
    with pytest.raises(TractionError, match="adc_samples=True"):
        session.add_adc_callback(print)  # a callback that would never be called is refused
    assert got[0].force_n == 100.0 and session.callback_errors == 0  # telemetry unaffected


# ---- end to end on the virtual board with an ADS1220 at 660 conversions a second ----

ADS1220 = {"loadcell.sps": 660}


def _treatment_with_adc(port, store, key, seconds):
    with Device.open(port, store=store, key=key) as dev:
        session = Session(dev, _static(seconds), telemetry_hz=100, adc_samples=True).start()
        record = session.wait(timeout=300)
    return session, record


@pytest.mark.e2e
def test_e2e_every_conversion_at_660_per_second_arrives_in_order_and_reads_the_force(tmp_path):
    from traction.virtual_board import VirtualBoard

    with VirtualBoard(seed=3, time_scale=10, store_dir=tmp_path / "board", overrides=ADS1220) as sim, \
            Store(tmp_path / "t.db") as store:
        session, record = _treatment_with_adc(sim.port, store, sim.key, 20)
        telemetry = store.telemetry(session.row)
    assert record is not None and record.end["reason"] == "COMPLETED"
    adc = session.adc
    assert adc.lost == 0 and adc.sps == 660 and adc.frames > 100
    span_s = adc.t_s[-1] - adc.t_s[0]
    rate = (adc.numbers[-1] - adc.numbers[0]) / span_s
    print(f"{len(adc)} conversions in {span_s:.2f} s of device time: {rate:.1f}/s, {adc.frames} frames")
    assert 640 <= rate <= 680, rate  # >= 500 a second of device time, as the ADC converts
    # in the hold (250 N): each conversion within noise of the loop's own reading at that control sample
    hold = {r["sample"]: r["force_dn"] / 10 for r in telemetry if r["force_dn"] > 2400}
    near = 0
    for t, f in zip(adc.t_s, adc.force_n, strict=True):
        sample = round(t * 100)
        if sample in hold:
            assert abs(f - hold[sample]) < 3.0, (t, f, hold[sample])
            near += 1
    assert near > 3000


@pytest.mark.e2e
def test_e2e_a_line_that_damages_bytes_loses_samples_counted_never_the_session(tmp_path):
    from traction.pty_relay import noisy_line
    from traction.virtual_board import VirtualBoard

    with VirtualBoard(seed=5, time_scale=10, store_dir=tmp_path / "board", overrides=ADS1220) as sim, \
            Store(tmp_path / "t.db") as store:
        line = noisy_line(sim.port, 1e-3, seed=7)
        try:
            session, record = _treatment_with_adc(line.port, store, sim.key, 10)
        finally:
            line.close()
    assert record is not None and record.end["reason"] == "COMPLETED"
    adc = session.adc
    assert adc.lost > 0 and len(adc) > 5000
    # what arrived plus what was counted lost is every conversion between the first and the last
    assert len(adc) + adc.lost == adc.numbers[-1] - adc.numbers[0] + 1


# ---- traction run --adc-samples ----

def test_cli_an_adc_samples_file_that_cannot_be_written_stops_before_the_board_is_touched(tmp_path, capsys):
    from traction.cli import main

    toml = tmp_path / "t.toml"
    toml.write_text('region = "lumbar"\nbody_weight = "80 kg"\n[[phase]]\nmode = "static"\nforce = "250 N"\n'
                    'duration = "20 s"\n')
    bad = tmp_path / "no-such-dir" / "s.csv"
    code = main(["run", str(toml), "--port", "/dev/ttyNOPE3", "--adc-samples", str(bad)])
    err = capsys.readouterr().err
    last = err.splitlines()[-1]  # after the treatment file's warnings, one error line
    assert code == 1 and last.startswith("traction: error: --adc-samples") and "cannot write it" in last


@pytest.mark.e2e
def test_e2e_cli_run_writes_every_conversion_to_the_csv(tmp_path, capsys, monkeypatch):
    import csv

    from traction.cli import main
    from traction.virtual_board import VirtualBoard

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("TRACTION_STORE", raising=False)
    toml = tmp_path / "t.toml"
    toml.write_text('region = "lumbar"\nbody_weight = "80 kg"\n[[phase]]\nmode = "static"\nforce = "250 N"\n'
                    'ramp_up = "5 s"\nduration = "10 s"\n')
    out_csv = tmp_path / "adc.csv"
    with VirtualBoard(store_dir=tmp_path / "board", time_scale=10, overrides=ADS1220) as vb:
        key_file = tmp_path / "key.hex"
        key_file.write_text(vb.key.hex() + "\n")
        code = main(["run", str(toml), "--port", vb.port, "--store", str(tmp_path / "s.db"), "--key-file",
                     str(key_file), "--adc-samples", str(out_csv)])
    err = capsys.readouterr().err
    assert code == 0, err
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    numbers = [int(r["number"]) for r in rows]
    assert len(rows) > 6000 and numbers == list(range(numbers[0], numbers[0] + len(rows)))  # none lost
    assert max(float(r["force_n"]) for r in rows) > 240  # the hold at 250 N, read at the ADC's rate
    assert f"{len(rows)} load-cell samples at 660/s, 0 lost, in {out_csv}" in err
