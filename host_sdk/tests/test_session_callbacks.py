"""User callbacks run after the data is safe: one that raises loses nothing and is logged once."""

import logging

from fakeboard import KEY, FakeBoard, signed_record
from traction.device import Device
from traction.session import Session
from traction.store import Store
from traction.treatment import Treatment

TREATMENT = ('region = "lumbar"\nbody_weight = "80 kg"\n[[phase]]\nmode = "static"\nforce = "250 N"\n'
             'duration = "1 min"\n')


def test_a_raising_callback_loses_no_sample_no_event_and_the_session_still_ends(tmp_path, caplog):
    board = FakeBoard(time_scale=50)
    calls = {"telemetry": 0, "other": 0, "events": 0}

    def bad_telemetry(sample):
        calls["telemetry"] += 1
        raise ValueError("user bug")

    def good_telemetry(sample):
        calls["other"] += 1

    def bad_event(event):
        calls["events"] += 1
        raise RuntimeError("user bug in on_event")

    with Store(tmp_path / "t.db") as store, Device.open(board.url, store=store, key=KEY) as dev:
        session = Session(dev, Treatment.from_toml(TREATMENT), on_telemetry=bad_telemetry, on_event=bad_event)
        session.add_telemetry_callback(good_telemetry)
        session.start()
        with caplog.at_level(logging.WARNING, logger="traction"):
            board.send("TELEMETRY", {"sample": 1000, "period_us": 100000, "state": 3, "phase": 0,
                                     "segment": 2, "samples": [(2400, 2500), (2450, 2500), (2490, 2500)]})
            board.send("TELEMETRY", {"sample": 1030, "period_us": 100000, "state": 3, "phase": 0,
                                     "segment": 2, "samples": [(2500, 2500)]})
            it = session.telemetry(timeout=3)
            samples = [next(it) for _ in range(4)]
            board.records = {3: signed_record(record_id=3, session_id=session.session_id)}
            board.state = 1
            board.send("EVENT", {"event": 1, "ms": 60000, "kind": 8, "code": 0, "value": 3})
            record = session.wait(timeout=5)
    assert [s.force_n for s in samples] == [240.0, 245.0, 249.0, 250.0]
    assert calls == {"telemetry": 4, "other": 4, "events": 1}  # every callback saw every item
    assert session.dropped_samples == 0 and session.callback_errors == 5
    assert record is not None and record.session_id == session.session_id  # the RECORD event still counted
    with Store(tmp_path / "t.db") as store:
        (row,) = store.sessions()
    assert (row["samples"], row["events"], row["outcome"]) == (4, 1, "COMPLETED")
    failures = [r for r in caplog.records if "callback" in r.getMessage()]
    assert len(failures) == 2  # once per failing callback, not once per sample
    assert "bad_telemetry" in failures[0].getMessage() and "bad_event" in failures[1].getMessage()
    board.close()


def test_telemetry_times_out_after_a_silence_not_after_the_sum_of_short_gaps(tmp_path):
    # Samples 0.7 s apart (a slow board, or a loaded machine): each gap is an empty poll, and 3 s of
    # them summed is not 3 s without a sample.
    import threading
    import time

    board = FakeBoard(time_scale=50)
    with Store(tmp_path / "t.db") as store, Device.open(board.url, store=store, key=KEY) as dev:
        session = Session(dev, Treatment.from_toml(TREATMENT)).start()

        def slow_board():
            for k in range(8):
                time.sleep(0.7)
                board.send("TELEMETRY", {"sample": 1000 + k, "period_us": 100000, "state": 3, "phase": 0,
                                         "segment": 2, "samples": [(2500, 2500)]})

        sender = threading.Thread(target=slow_board)
        sender.start()
        received = list(session.telemetry(timeout=3))
        sender.join()
    board.close()
    assert len(received) == 8  # the iteration ended 3 s after the last one, not 3 s of gaps into it
