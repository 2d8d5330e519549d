"""The SDK's API decisions of issue 15: what an edit in a stepped phase says, and the typed Store API."""

import pytest
import record_factory as factory
from traction.record import RecordError
from traction.resources import resource
from traction.session import Event
from traction.store import Store, StoredSample, StoredSession
from traction.treatment import Treatment


def test_an_edit_in_a_stepped_phase_says_the_top_step_takes_the_new_force():
    treatment = Treatment.load(resource("examples/lumbar_progressive.toml"))
    stepped = next(i for i, p in enumerate(treatment.phases) if p.mode in ("progressive", "regressive"))
    edit = Event(number=3, ms=60000, kind="EDIT", code=stepped, value=2000)
    assert edit.describe("N", treatment) == (f"phase {stepped + 1} edited: its top step is now 200.0 N, "
                                             "the current step in proportion")
    assert edit.describe("N") == f"phase {stepped + 1} force edited to 200.0 N"  # no treatment: no guess


def test_an_edit_in_a_static_phase_names_the_force_the_board_holds():
    treatment = Treatment.from_toml('region = "lumbar"\nbody_weight = "80 kg"\n[[phase]]\nmode = "static"\n'
                                    'force = "250 N"\nduration = "1 min"\n')
    edit = Event(number=3, ms=60000, kind="EDIT", code=0, value=2000)
    assert edit.describe("N", treatment) == "phase 1 force edited to 200.0 N"


def test_the_typed_store_api_lists_reads_and_verifies_a_stored_session(tmp_path):
    data = factory.session()  # a signed record of session 4242 from TU-000123
    with Store(tmp_path / "s.db") as store:
        row = store.new_session(4242, "TU-000123", {"region": "lumbar"}, source="a.toml", unit="lbf")
        store.add_telemetry(row, [(10, 1000.0, 3, 0, 2, 2501, 2500), (11, 1100.0, 3, 0, 2, 2499, 2500)])
        store.add_event(row, {"event": 1, "ms": 1000, "kind": 1, "code": 3, "value": 0})
        record_row = store.save_record("TU-000123", 12, data, verified=True, session_id=4242)
        store.end_session(row, "COMPLETED", record_row)
        (listed,) = store.list_sessions()
        assert isinstance(listed, StoredSession) and listed == store.get_session(row)
        assert (listed.id, listed.session_id, listed.serial, listed.outcome, listed.unit) == (
            row, 4242, "TU-000123", "COMPLETED", "lbf")
        assert listed.treatment == {"region": "lumbar"} and listed.record_row == record_row
        assert listed.record_id == 12 and listed.verified and (listed.samples, listed.events) == (2, 1)
        assert store.samples(row) == [StoredSample(10, 1.0, "RUNNING", 0, "HOLD", 250.1, 250.0),
                                      StoredSample(11, 1.1, "RUNNING", 0, "HOLD", 249.9, 250.0)]
        (event,) = store.session_events(row)
        assert event.kind == "STATE" and event.describe() == "state RUNNING"
        stored = store.get_record(record_row)
        assert stored is not None and stored.data == data and stored.serial == "TU-000123"
        with pytest.raises(RecordError, match="no key for device TU-000123"):
            store.load_record(record_row)
        store.set_key("TU-000123", factory.KEY)
        record = store.load_record(record_row)
        assert record.session_id == 4242 and record.end["reason"] == "COMPLETED"
        with pytest.raises(RecordError):
            store.load_record(record_row, key=factory.OTHER_KEY)
        assert store.get_session(row + 1) is None and store.get_record(record_row + 1) is None
