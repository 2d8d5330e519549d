"""`traction bill`: record files and store sessions in, each format out; bad input is one line, exit 1."""

import json

import pytest
import record_factory as factory
from traction.cli import main
from traction.store import Store

CONTEXT = str(factory.EXAMPLE_CONTEXT)


@pytest.fixture(autouse=True)
def private_store(tmp_path, monkeypatch):
    """Never touch the user's store: the default path points into the test's folder."""
    monkeypatch.setenv("TRACTION_STORE", str(tmp_path / "default.db"))


@pytest.fixture
def rec(tmp_path):
    path = tmp_path / "session.rec"
    path.write_bytes(factory.session())
    return path


def run(capsys, *argv):
    code = main(["bill", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_prints_lines_rules_warnings_and_documentation(capsys, rec):
    code, out, err = run(capsys, rec, "--context", CONTEXT, "--key", factory.KEY.hex())
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["schema"] == "traction.billing/1"
    traction = result["lines"][0]
    assert (traction["code"], traction["modifiers"], traction["units"], traction["diagnosis_pointers"]) == (
        "97012",
        ["GP"],
        1,
        [1, 2],
    )
    assert "97012-UNTIMED" in traction["rules"]
    assert result["warnings"] == [] and result["documentation"]["complete"]


def test_two_sessions_on_one_date_are_one_unit(capsys, tmp_path, rec):
    second = tmp_path / "second.rec"
    second.write_bytes(factory.session(record=13, region="CERVICAL", utc_start_s=factory.UTC_START_S + 5400))
    code, out, _ = run(
        capsys, rec, second, "--context", CONTEXT, "--key", factory.KEY.hex(), "--format", "csv"
    )
    assert code == 0
    rows = out.splitlines()
    assert len(rows) == 3  # header, 97012, 97110
    assert rows[1].startswith("2026-07-08,MRN-0042117,97012,GP,1,20,")


def test_tampered_record_is_refused_with_one_line(capsys, tmp_path):
    data = bytearray(factory.session())
    data[data.index(b'"mean_dn": 2996') + len(b'"mean_dn": 2')] ^= 0x01  # 2996 N -> 2896 N
    path = tmp_path / "tampered.rec"
    path.write_bytes(bytes(data))
    out_file = tmp_path / "claim.837"
    code, out, err = run(
        capsys, path, "--context", CONTEXT, "--key", factory.KEY.hex(), "--format", "837", "--out", out_file
    )
    assert code == 1 and out == ""
    assert err == "traction: error: record 12: line 3 does not chain to line 2: the record was altered\n"
    assert not out_file.exists()


def test_wrong_key_and_bad_key_text(capsys, rec):
    code, _, err = run(capsys, rec, "--context", CONTEXT, "--key", factory.OTHER_KEY.hex())
    assert code == 1 and "does not match the device key" in err
    code, _, err = run(capsys, rec, "--context", CONTEXT, "--key", "abc")
    assert (
        code == 1 and err == "traction: error: --key: the device key must be 64 hex digits (32 bytes)\n"
    )


def test_key_file_raw_or_hex(capsys, tmp_path, rec):
    raw = tmp_path / "key.bin"
    raw.write_bytes(factory.KEY)
    text = tmp_path / "key.hex"
    text.write_text(factory.KEY.hex() + "\n")
    for key_file in (raw, text):
        assert run(capsys, rec, "--context", CONTEXT, "--key-file", key_file)[0] == 0


def test_no_key_and_no_store_is_one_clear_line(capsys, rec):
    code, _, err = run(capsys, rec, "--context", CONTEXT)
    assert code == 1 and "give --key, --key-file or --store" in err


def test_session_number_from_the_store_with_its_key(capsys, tmp_path):
    db = tmp_path / "traction.db"
    with Store(db) as store:
        store.set_key("TU-000123", factory.KEY)
        row = store.new_session(4242, "TU-000123", {"name": "test"})
        record_row = store.save_record("TU-000123", 12, factory.session(), verified=True, session_id=4242)
        store.end_session(row, "COMPLETED", record=record_row)
    code, out, _ = run(capsys, row, "--context", CONTEXT, "--store", db, "--format", "837")
    assert code == 0 and "SV1*HC:97012:GP*45*UN*1***1:2~" in out
    code, _, err = run(capsys, row + 1, "--context", CONTEXT, "--store", db)
    assert code == 1 and f"session {row + 1} is not in the store" in err


def test_record_file_key_from_the_store(capsys, tmp_path, rec):
    db = tmp_path / "keys.db"
    with Store(db) as store:
        store.set_key("TU-000123", factory.KEY)
    code, out, _ = run(capsys, rec, "--context", CONTEXT, "--store", db, "--format", "note")
    assert code == 0 and out.startswith("# Mechanical traction treatment note")


def test_fhir_to_a_file(capsys, tmp_path, rec):
    out_file = tmp_path / "claim.fhir.json"
    code, out, _ = run(
        capsys, rec, "--context", CONTEXT, "--key", factory.KEY.hex(), "--format", "fhir", "--out", out_file
    )
    assert code == 0 and out == ""
    assert json.loads(out_file.read_text())["resourceType"] == "Bundle"


def test_not_billing_ready_exits_1_with_the_output(capsys, tmp_path):
    path = tmp_path / "aborted.rec"
    path.write_bytes(factory.session(cut_at_ms=2000, reason="FAULT", fault="STOP_SWITCH"))
    context = tmp_path / "unsigned.json"
    context.write_text(json.dumps(factory.context(drop=["signature"]).data))
    code, out, _ = run(capsys, path, "--context", context, "--key", factory.KEY.hex())
    result = json.loads(out)
    assert code == 3 and result["lines"][0]["code"] == "97110"
    assert result["not_billed"][0]["rule"] == "NO-THERAPEUTIC-FORCE"
    assert result["blocking"] == ["documentation missing: clinician signature"]


def test_837_of_a_not_ready_summary_is_bad_input(capsys, tmp_path, rec):
    context = tmp_path / "unsigned.json"
    data = factory.context(drop=["signature"]).data
    context.write_text(json.dumps(data))
    code, out, err = run(capsys, rec, "--context", context, "--key", factory.KEY.hex(), "--format", "837")
    assert code == 1 and out == "" and "not billing-ready" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not = [toml", "not valid TOML"),
        ('schema = "traction.context/1"\n', "patient: is required"),
    ],
)
def test_bad_context_is_one_line(capsys, tmp_path, rec, text, message):
    context = tmp_path / "context.toml"
    context.write_text(text)
    code, _, err = run(capsys, rec, "--context", context, "--key", factory.KEY.hex())
    assert code == 1 and message in err and err.count("\n") == 1


def test_bad_npi_in_context(capsys, tmp_path, rec):
    context = tmp_path / "context.toml"
    context.write_text(
        factory.EXAMPLE_CONTEXT.read_text().replace('npi = "1234567893"', 'npi = "1234567890"')
    )
    code, _, err = run(capsys, rec, "--context", context, "--key", factory.KEY.hex())
    assert code == 1 and "rendering.npi: 1234567890 fails the NPI check digit" in err


def test_missing_session_file(capsys, tmp_path):
    code, _, err = run(capsys, tmp_path / "nope.rec", "--context", CONTEXT, "--key", factory.KEY.hex())
    assert code == 1 and "no such record file" in err
