"""The claims already billed, kept in the local store's file, so that 97012 stays one unit per patient per
date of service across claims (97012-ONE-PER-DAY), not only within one `traction bill` run.

A claim is entered when `traction bill` writes a billing-ready 837P, FHIR Claim or CSV; writing the same
records again (another format, a re-issue) updates that entry rather than adding a second claim.
The table sits beside the store's own tables; nothing else in the store reads it.
"""

import json
import sqlite3
import time
from contextlib import contextmanager

from traction.billing.claim import BillingError, record_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS billed_claims (
    patient TEXT, date_of_service TEXT, records TEXT, claim_id TEXT, payer TEXT, codes TEXT,
    written_utc REAL, PRIMARY KEY (patient, date_of_service, records));
"""
BUSY_TIMEOUT_S = 5.0


def claims(path, patient: str) -> list:
    """The patient's billed claims: claim_id, date_of_service, payer, codes {code: units}, records."""
    with _open(path) as db:
        rows = db.execute(
            "SELECT date_of_service, records, claim_id, payer, codes FROM billed_claims WHERE patient = ? "
            "ORDER BY written_utc", (patient,)).fetchall()
    return [{"date_of_service": dos, "records": json.loads(records), "claim_id": claim_id, "payer": payer,
             "codes": json.loads(codes)} for dos, records, claim_id, payer, codes in rows]


def add(path, summary: dict, records) -> None:
    """Enter a billing-ready summary's claim (the same records again replace their entry)."""
    if not summary["billing_ready"]:
        raise BillingError("only a billing-ready claim is entered in the ledger")
    data = summary["clinician_context"]["data"]
    codes = {}
    for line in summary["lines"]:
        codes[line["code"]] = codes.get(line["code"], 0) + line["units"]
    row = (data["patient"]["reference"], summary["date_of_service"],
           json.dumps(sorted(record_key(r) for r in records)), data["encounter"].get("claim_id", ""),
           summary["payer"]["profile"], json.dumps(codes), time.time())
    with _open(path) as db:
        db.execute("INSERT OR REPLACE INTO billed_claims VALUES (?, ?, ?, ?, ?, ?, ?)", row)


@contextmanager
def _open(path):
    """A short transaction on the store file; any SQLite failure names the file."""
    db = None
    try:
        db = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S)
        db.executescript(SCHEMA)
        with db:  # commits, or rolls back on an error
            yield db
    except sqlite3.Error as e:
        raise BillingError(f"cannot use the claims ledger in the store {path}: {e}") from e
    finally:
        if db is not None:
            db.close()
