"""`traction bill`: billing outputs for one date of service from verified session records.

SESSION is a record file (.rec) or a session number from the local store (`traction sessions`); the
record is always verified with the device key (--key HEX, --key-file, or the key the store holds for the
record's serial). Exit status (the `traction` command's table, docs/integrators.md): 0 billing-ready,
3 written but not billing-ready, 1 bad input (one line on stderr, nothing written).
"""

import json
import sys
from pathlib import Path

from traction.errors import TractionError

# The billing modules are imported by the functions that use them: `traction --help` loads this module to
# list `bill`, and should not pay for them (benchmarks/cli_startup_bench.py).

FORMATS = ("json", "fhir", "837", "csv", "note")
BILLED_FORMATS = ("fhir", "837", "csv")  # what goes to a payer or a practice-management system
EXIT_NOT_READY = 3  # traction.cli.EXIT_OUTCOME: done, but not the outcome asked for
EXIT_BAD_INPUT = 1  # traction.cli.EXIT_ERROR


def register(subparsers) -> None:
    """Add `traction bill` to the CLI's subcommands."""
    p = subparsers.add_parser(
        "bill",
        help="billing summary, FHIR claim, X12 837P, CSV or note for CPT 97012",
        description=(__doc__ or "").split("\n\n")[1],
    )
    p.add_argument(
        "sessions",
        nargs="+",
        metavar="SESSION",
        help="record file (.rec) or store session number; several for one date of service",
    )
    p.add_argument(
        "--context",
        required=True,
        metavar="FILE",
        help="clinical context (TOML or JSON), e.g. examples/context_example.toml",
    )
    p.add_argument("--format", choices=FORMATS, default="json", help="output format (json)")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    keys = p.add_mutually_exclusive_group()
    keys.add_argument("--key", metavar="HEX", help="device key, 64 hex digits")
    keys.add_argument("--key-file", metavar="FILE", help="file holding the device key (32 bytes or 64 hex)")
    p.add_argument(
        "--store", help="store file (default $TRACTION_STORE or ~/.local/share/traction/traction.db)"
    )
    p.add_argument(
        "--rules",
        action="append",
        default=[],
        metavar="DIR",
        help="folder of extra payer profiles (payer_<id>.json); may be repeated",
    )
    p.add_argument("--chart", metavar="PATH", help="force chart image the note refers to")
    p.add_argument("--production", action="store_true", help="837P usage indicator P (default T, test)")
    p.set_defaults(func=cmd_bill)


def cmd_bill(args, console=None) -> int:
    """`traction bill`: the billing summary of stored sessions in the asked format.
    Exit 0 billing-ready, 3 not billing-ready, 1 bad input."""
    from traction.billing import ledger
    from traction.billing.claim import bill
    from traction.billing.context import load as load_context
    from traction.billing.rules import load as load_rules

    try:
        key = _key_argument(args)
        records = [_record(session, key, args.store) for session in args.sessions]
        context = load_context(args.context)
        claims_at = _ledger_path(args.store)
        prior = ledger.claims(claims_at, context.patient) if claims_at else []
        summary = bill(records, context, load_rules(args.rules), prior_claims=prior)
        text = render(summary, args.format, chart_path=args.chart, production=args.production)
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        if claims_at and summary["billing_ready"] and args.format in BILLED_FORMATS:
            ledger.add(claims_at, summary, records)
    except (TractionError, OSError) as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"traction: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0 if summary["billing_ready"] else EXIT_NOT_READY


def render(summary: dict, fmt: str, chart_path=None, production: bool = False) -> str:
    """A billing summary as text: json, fhir (a Bundle), 837 (an X12 837P interchange), csv or note."""
    from traction.billing import csv_line, fhir, note, x12

    if fmt == "json":
        return json.dumps(summary, indent=2) + "\n"
    if fmt == "fhir":
        return json.dumps(fhir.bundle(summary), indent=2) + "\n"
    if fmt == "837":
        return x12.interchange(summary, production=production)
    if fmt == "csv":
        return csv_line.text(summary)
    return note.markdown(summary, chart_path)


def _key_argument(args) -> bytes | None:
    from traction.record import load_key, parse_key

    if args.key:
        return parse_key(args.key, "--key")
    if args.key_file:
        return load_key(args.key_file)
    return None


def _record(session: str, key: bytes | None, store_path):
    from traction.record import RecordError, verify

    path = Path(session)
    if path.exists():
        data = path.read_bytes()
        return verify(data, key or _stored_key(_serial_of(data, session), store_path, session))
    if not session.isdigit():
        raise RecordError(f"{session}: no such record file, and not a session number from the store")
    return _stored_record(int(session), key, store_path)


def _serial_of(data: bytes, name: str) -> str:
    """The serial named in the record's first line, only to look its key up; verify() checks it all."""
    from traction.record import RecordError

    try:
        return json.loads(data.split(b"\n", 1)[0])["serial"]
    except (ValueError, KeyError, TypeError):
        raise RecordError(f"{name}: not a session record (its first line names no device serial)") from None


def _ledger_path(store_path):
    """The store file that keeps the claims ledger: the one named, else the default one if it exists."""
    from traction.store import default_path

    if store_path is not None:
        return Path(store_path)
    return default_path() if default_path().exists() else None


def _open_store(store_path, why: str):
    """The store, only when one is named or already exists: looking a key up must not create one."""
    from traction.record import RecordError
    from traction.store import Store, default_path

    if store_path is None and not default_path().exists():
        raise RecordError(f"{why}: no store at {default_path()}; give --key, --key-file or --store")
    return Store(store_path)


def _stored_key(serial: str, store_path, name: str) -> bytes:
    from traction.record import RecordError

    with _open_store(store_path, name) as store:
        key = store.key_for(serial)
    if key is None:
        raise RecordError(f"{name}: no key for device {serial} in the store; give --key or --key-file")
    return key


def _stored_record(number: int, key: bytes | None, store_path):
    from traction.record import RecordError, verify

    with _open_store(store_path, f"session {number}") as store:
        session = store.session(number)
        if session is None:
            raise RecordError(f"session {number} is not in the store {store.path}")
        row = store.record(session["record"]) if session["record"] else None
        if row is None:
            raise RecordError(
                f"session {number} has no session record in the store (outcome "
                f"{session['outcome'] or 'unknown'})"
            )
        key = key or store.key_for(row["serial"])
    if key is None:
        raise RecordError(f"session {number}: no key for device {row['serial']}; give --key or --key-file")
    return verify(bytes(row["data"]), key)
