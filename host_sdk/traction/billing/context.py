"""The clinical context: what the device cannot know, supplied by the clinic as TOML or JSON.

Everything here is the clinician's (or the front desk's) word and is marked as such in every output; the
device's measured facts come only from the signed record. Bad input raises ContextError with the file,
the field and what to do, and nothing is guessed.
"""

import difflib
import json
import math
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from traction.billing.npi import npi_problem
from traction.errors import TractionError

SCHEMA = "traction.context/1"
PROVIDER_TYPES = ("PT", "PTA", "chiropractor", "physician")
DEVICE_TYPES = {
    "mechanical": "mechanical traction unit",
    "decompression": "decompression / VAX-D table",
    "roller_table": "roller table",
    "y_strap": "Y-strap",
    "manual": "manual traction",
}
REGIONS = ("cervical", "lumbar")
SEXES = ("F", "M", "U")
MAX_FEE = 99_999.99  # CMS-1500 item 24F: 5 dollar digits and cents per line
MAX_UNITS = 999  # CMS-1500 item 24G: 3 digits
MAX_MINUTES = 24 * 60
MAX_VISITS = 999
PERSON = ("name", "first_name", "last_name", "provider_type", "npi", "taxonomy")
ADDRESS = ("line", "city", "state", "zip")
# Every table's keys: a key outside these is a typo or a field we would silently ignore, so it is refused.
KEYS = {
    "": ("schema", "patient", "encounter", "plan_of_care", "rendering", "supervising", "referring",
         "billing_provider", "payer", "diagnoses", "treatment", "other_services", "therapy_spend", "fees",
         "signature", "x12"),
    "patient": ("reference", "last_name", "first_name", "birth_date", "sex", "member_id", "address"),
    "patient.address": ADDRESS,
    "encounter": ("time_zone", "date_of_service", "place_of_service", "visit_number", "claim_id"),
    "plan_of_care": ("certified_on", "certified_through"),
    "rendering": PERSON,
    "supervising": PERSON,
    "referring": PERSON,
    "billing_provider": ("name", "npi", "tax_id", "contact", "phone", "address", "taxonomy"),
    "billing_provider.address": ADDRESS,
    "payer": ("profile", "name", "payer_id"),
    "diagnoses[]": ("code", "description"),
    "treatment": ("device_type", "device_description", "regions", "angle_deg", "patient_position",
                  "patient_response", "functional_progress", "rationale", "rationale_diagnoses"),
    "other_services[]": ("code", "description", "units", "minutes", "region"),
    "therapy_spend": ("year_to_date", "above_threshold"),
    "signature": ("signed_by", "signed_at"),
    "x12": ("sender_id", "receiver_id"),
}
# Fields that are not text: each is checked for its own type below.
TYPED = ("treatment.regions", "treatment.rationale_diagnoses", "treatment.angle_deg",
         "encounter.visit_number", "other_services[].units", "other_services[].minutes",
         "therapy_spend.year_to_date", "therapy_spend.above_threshold")


class ContextError(TractionError):
    """A clinical context file that cannot be used as it stands."""


class Context:
    """A checked clinical context. `data` is the file's content; the properties are the parsed values."""

    def __init__(self, data: dict, name: str = "context"):
        self.name = name
        self.data = data
        self._check()

    def get(self, dotted: str, default: Any = None) -> Any:
        """A value by dotted path ("encounter.time_zone"), or default when any part is missing."""
        node = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    @property
    def time_zone(self) -> ZoneInfo:
        """The encounter's time zone, in which dates of service are reckoned."""
        return ZoneInfo(self.data["encounter"]["time_zone"])

    @property
    def date_of_service(self) -> date | None:
        """The encounter's date of service if given, else None (taken from the records)."""
        text = self.get("encounter.date_of_service")
        return date.fromisoformat(text) if text else None

    @property
    def place_of_service(self) -> str | None:
        """The CMS place-of-service code, if given."""
        return self.get("encounter.place_of_service")

    @property
    def patient(self) -> str:
        """The patient's reference (the clinic's identifier, no name)."""
        return self.data["patient"]["reference"]

    @property
    def provider_type(self) -> str:
        """Who furnished the service: PT, PTA, OT, ..."""
        return self.data["rendering"]["provider_type"]

    @property
    def payer_profile(self) -> str:
        """The id of the payer profile the claim follows."""
        return self.data["payer"]["profile"]

    @property
    def device_type(self) -> str:
        """The traction device type documented for the payer."""
        return self.data["treatment"]["device_type"]

    @property
    def diagnoses(self) -> list:
        """The ICD-10-CM codes, in claim order."""
        return [d["code"] for d in self.data["diagnoses"]]

    @property
    def other_services(self) -> list:
        """Other services the same day, for the bundling and timed-unit edits."""
        return self.get("other_services", [])

    def fee(self, code: str) -> float | None:
        """The clinic's fee for a CPT code, or None."""
        return self.get("fees", {}).get(code)

    def _fail(self, field: str, problem: str):
        raise ContextError(f"{self.name}: {field}: {problem}")

    def _check(self) -> None:
        if self.data.get("schema", SCHEMA) != SCHEMA:
            self._fail("schema", f"{self.data['schema']!r} is not {SCHEMA!r}")
        self._known_keys()
        if not isinstance(self.get("patient"), dict):
            self._fail("patient", "is required: [patient] with reference, last_name, first_name, birth_date")
        for field in (
            "patient.reference",
            "patient.last_name",
            "patient.first_name",
            "patient.birth_date",
            "encounter.time_zone",
            "rendering.name",
            "rendering.npi",
            "rendering.provider_type",
            "payer.profile",
            "treatment.device_type",
        ):
            self._text(field, required=True)
        for field in (
            "patient.birth_date",
            "encounter.date_of_service",
            "plan_of_care.certified_on",
            "plan_of_care.certified_through",
        ):
            if self._text(field) is not None:
                self._date(field)
        try:
            ZoneInfo(self.data["encounter"]["time_zone"])
        except (ZoneInfoNotFoundError, ValueError):
            self._fail(
                "encounter.time_zone",
                f"{self.get('encounter.time_zone')!r} is not an IANA time zone such as 'America/Chicago'",
            )
        if self.get("patient.sex") is not None:
            self._choice("patient.sex", SEXES)
        place = self.get("encounter.place_of_service")
        if place is not None and not (isinstance(place, str) and len(place) == 2 and place.isdigit()):
            self._fail("encounter.place_of_service", f'{place!r} is not a 2-digit code as text, e.g. "11"')
        self._choice("rendering.provider_type", PROVIDER_TYPES)
        self._choice("treatment.device_type", tuple(DEVICE_TYPES))
        for who in ("rendering", "supervising", "referring", "billing_provider"):
            if self.get(who) is not None:
                self._npi(f"{who}.npi")
        if self.get("referring") is not None:
            self._text("referring.name", required=True)
        if self.get("supervising") is not None:
            self._choice("supervising.provider_type", PROVIDER_TYPES)
        self._diagnoses()
        self._list_of_text("treatment.regions", REGIONS)
        self._list_of_text("treatment.rationale_diagnoses")
        self._other_services()
        self._fees()
        self._signature()
        spend = self.get("therapy_spend", {})
        if "year_to_date" in spend and not (_is_number(spend["year_to_date"]) and spend["year_to_date"] >= 0):
            self._fail("therapy_spend.year_to_date", "must be an amount in dollars, 0 or more")
        if "above_threshold" in spend and not isinstance(spend["above_threshold"], bool):
            self._fail("therapy_spend.above_threshold", "must be true or false")
        angle = self.get("treatment.angle_deg")
        if angle is not None and (not _is_number(angle) or not 0 <= angle <= 45):
            self._fail("treatment.angle_deg", "must be a number of degrees from 0 to 45")
        visit = self.get("encounter.visit_number")
        if visit is not None and not _is_whole(visit, 1, MAX_VISITS):
            self._fail("encounter.visit_number", f"must be a whole number from 1 to {MAX_VISITS}")

    def _known_keys(self) -> None:
        """Every table is a table, every key is one its table takes (else the nearest known one is
        suggested, as treatment files do), and every field the checks below do not type is text."""
        self._walk("", "", self.data)

    def _walk(self, table: str, where: str, node) -> None:
        if not isinstance(node, dict):
            self._fail(where, "must be a table of key = value lines")
        if table == "fees":
            return  # codes as keys, amounts checked by _fees
        for key, value in node.items():
            at = f"{where}.{key}" if where else key
            name = f"{table}.{key}" if table else key
            if key not in KEYS[table]:
                self._fail(at, _unknown_key(key, KEYS[table]))
            if name in KEYS or name == "fees":
                self._walk(name, at, value)
            elif f"{name}[]" in KEYS:
                if not isinstance(value, list):
                    self._fail(at, f"must be a list of tables ([[{key}]])")
                for index, entry in enumerate(value):
                    self._walk(f"{name}[]", f"{at}[{index}]", entry)
            elif name not in TYPED and (not isinstance(value, str) or not value.strip()):
                self._fail(at, "must be non-empty text")

    def _text(self, field: str, required: bool = False):
        value = self.get(field)
        if value is None:
            if required:
                self._fail(field, "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            self._fail(field, "must be non-empty text")
        return value

    def _date(self, field: str) -> None:
        try:
            date.fromisoformat(self.get(field))
        except ValueError:
            self._fail(field, f"{self.get(field)!r} is not a date such as 2026-07-08")

    def _choice(self, field: str, allowed: tuple) -> None:
        value = self._text(field, required=True)
        if value not in allowed:
            self._fail(field, f"{value!r} is not one of {', '.join(allowed)}")

    def _npi(self, field: str) -> None:
        value = self.get(field)
        problem = npi_problem(value) if value is not None else "is required"
        if problem:
            self._fail(field, problem)

    def _diagnoses(self) -> None:
        diagnoses = self.get("diagnoses")
        if not isinstance(diagnoses, list) or not diagnoses:
            self._fail("diagnoses", 'list at least one ICD-10-CM diagnosis ([[diagnoses]] code = "M54.16")')
        for index, entry in enumerate(diagnoses):
            if not isinstance(entry, dict) or not isinstance(entry.get("code"), str):
                self._fail(f"diagnoses[{index}]", 'needs a code, e.g. code = "M54.16"')
        if len(diagnoses) > 12:
            self._fail("diagnoses", "a professional claim carries at most 12 diagnoses")

    def _list_of_text(self, field: str, allowed: tuple = ()) -> None:
        value = self.get(field)
        if value is None:
            return
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self._fail(field, "must be a list of text")
        for v in value:
            if allowed and v not in allowed:
                self._fail(field, f"{v!r} is not one of {', '.join(allowed)}")

    def _other_services(self) -> None:
        services = self.get("other_services", [])
        if not isinstance(services, list):
            self._fail("other_services", "must be a list ([[other_services]])")
        for index, entry in enumerate(services):
            code = entry.get("code") if isinstance(entry, dict) else None
            if not isinstance(code, str) or len(code) != 5:
                self._fail(f"other_services[{index}].code", "must be a 5-character CPT/HCPCS code")
            if not _is_whole(entry.get("units", 1), 1, MAX_UNITS):
                self._fail(f"other_services[{index}].units", f"must be a whole number from 1 to {MAX_UNITS}")
            minutes = entry.get("minutes")
            if minutes is not None and not _is_whole(minutes, 1, MAX_MINUTES):
                self._fail(f"other_services[{index}].minutes", f"must be whole minutes, 1 to {MAX_MINUTES}")
            region = entry.get("region")
            if region is not None and (not isinstance(region, str) or not region.strip()):
                self._fail(f"other_services[{index}].region", "must name the region treated, e.g. thoracic")

    def _fees(self) -> None:
        table = self.get("fees", {})
        if not isinstance(table, dict):
            self._fail("fees", "must be a table of code = amount")
        for code, amount in table.items():
            if len(code) != 5:
                self._fail(f"fees.{code}", "is not a 5-character CPT/HCPCS code")
            if not _is_number(amount) or not 0 < amount <= MAX_FEE:
                self._fail(f"fees.{code}", f"must be an amount in dollars above 0 and at most {MAX_FEE:,}")

    def _signature(self) -> None:
        if self.get("signature") is None:
            return
        self._text("signature.signed_by", required=True)
        text = self._text("signature.signed_at", required=True)
        try:
            datetime.fromisoformat(text or "")  # a missing one has failed already
        except ValueError:
            self._fail("signature.signed_at", f"{text!r} is not a time such as 2026-07-08T10:42:00-05:00")


def load(path) -> Context:
    """Read a context file (.toml or .json)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ContextError(f"cannot read context {path}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise ContextError(f"{path}: not UTF-8 text") from e
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ContextError(
            f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}: {e}"
        ) from e
    if not isinstance(data, dict):
        raise ContextError(f"{path}: the context must be a table/object")
    return Context(_iso_dates(data), str(path))


def _iso_dates(value):
    """TOML date and time literals as ISO text, the form JSON contexts use and the outputs keep."""
    if isinstance(value, dict):
        return {k: _iso_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso_dates(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _is_number(value) -> bool:
    """A finite int or float: NaN and infinity are refused, so they never reach a claim."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_whole(value, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _unknown_key(key: str, allowed: tuple) -> str:
    near = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {near[0]!r}? " if near else ""
    return f"unknown key: {hint}(known here: {', '.join(allowed)})"
