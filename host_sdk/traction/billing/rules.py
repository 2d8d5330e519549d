"""Billing rules as data: the rule catalogue and the payer profiles (rules/*.json), effective-dated.

A clinic adds a payer by dropping a payer_<id>.json file (same shape as payer_commercial.json) into a
folder it passes to `load(extra_dirs=[...])` (the CLI's --rules DIR); a profile there replaces a shipped
one with the same id.
"""

import json
from datetime import date
from importlib import resources
from pathlib import Path

from traction.errors import TractionError

VERSION_KEYS = (
    "from",
    "until",
    "therapy_modifier",
    "assistant_modifiers",
    "excluded_providers",
    "distinct_procedure_modifier",
    "decompression",
    "kx_thresholds",
    "visit_warning_after",
    "plan_of_care",
)


class RulesError(TractionError):
    """A rule or payer-profile file that cannot be used, or no profile in effect on a date."""


class RuleBook:
    """The billing rule catalogue and the payer profiles, each rule with its source."""
    def __init__(self, catalogue: dict, profiles: dict):
        self.catalogue = catalogue
        self.profiles = profiles

    def cite(self, rule_id: str) -> dict:
        """{"rule", "source"} for a decision; unknown ids are a programming error, not a data problem."""
        return {"rule": rule_id, "source": self.catalogue["rules"][rule_id]["source"]}

    def is_always_therapy(self, code: str) -> bool:
        """Whether a CPT code is always a therapy service (needs the therapy modifier)."""
        return code in self.catalogue["always_therapy_codes"]

    def is_bundled(self, code: str) -> bool:
        """Whether a CPT code is bundled (billed with no units of its own)."""
        return code in self.catalogue["bundled_codes"]

    def is_timed(self, code: str) -> bool:
        """Whether a CPT code is billed by time (8-minute rule) rather than per service."""
        return code in self.catalogue["timed_codes"]

    def place_of_service(self, code: str) -> dict | None:
        """{"name", optional "edit": "telehealth" | "facility"} for a CMS POS code, None if not a code."""
        return self.catalogue["place_of_service"].get(code)

    def profile(self, payer_id: str, on: date) -> dict:
        """The payer's settings in effect on `on`, with the profile's id, name and filing indicator."""
        profile = self.profiles.get(payer_id)
        if profile is None:
            known = ", ".join(sorted(self.profiles))
            raise RulesError(
                f"no payer profile {payer_id!r} (known: {known}); add rules/payer_{payer_id}.json"
            )
        version = in_effect(profile["versions"], on)
        if version is None:
            raise RulesError(f"payer profile {payer_id!r} has no version in effect on {on.isoformat()}")
        return {
            "id": profile["id"],
            "name": profile["name"],
            "claim_filing_indicator": profile["claim_filing_indicator"],
            **version,
        }


def in_effect(entries: list, on: date):
    """The entry whose [from, until] (ISO dates, until may be null) contains `on`, or None."""
    for entry in entries:
        until = entry.get("until")
        if date.fromisoformat(entry["from"]) <= on and (until is None or on <= date.fromisoformat(until)):
            return entry
    return None


def load(extra_dirs=()) -> RuleBook:
    """The shipped rules and payer profiles, plus payer_*.json from extra_dirs (RulesError if unusable)."""
    shipped = resources.files("traction.billing").joinpath("rules")
    catalogue = json.loads(shipped.joinpath("rules.json").read_text())
    profiles = {}
    for item in sorted(shipped.iterdir(), key=lambda p: p.name):
        if item.name.startswith("payer_") and item.name.endswith(".json"):
            _add_profile(profiles, item.name, item.read_text())
    for folder in extra_dirs:
        if not Path(folder).is_dir():
            raise RulesError(f"rules folder {folder} does not exist")
        for path in sorted(Path(folder).glob("payer_*.json")):
            _add_profile(profiles, str(path), path.read_text())
    return RuleBook(catalogue, profiles)


def _add_profile(profiles: dict, name: str, text: str) -> None:
    try:
        profile = json.loads(text)
    except ValueError as e:
        raise RulesError(f"{name}: not valid JSON ({e})") from e
    for key in ("id", "name", "claim_filing_indicator", "versions"):
        if key not in profile:
            raise RulesError(f"{name}: payer profile lacks {key!r}")
    for index, version in enumerate(profile["versions"]):
        missing = [k for k in VERSION_KEYS if k not in version]
        if missing:
            raise RulesError(f"{name}: version {index} lacks {', '.join(map(repr, missing))}")
        for field in ("from", "until"):
            _check_date(name, index, field, version[field])
    profiles[profile["id"]] = profile


def _check_date(name: str, index: int, field: str, value) -> None:
    if value is None and field == "until":
        return
    try:
        date.fromisoformat(value)  # type: ignore[arg-type]  (None, a number: TypeError, caught)
    except (TypeError, ValueError) as e:
        raise RulesError(f"{name}: version {index} {field!r} is not an ISO date: {value!r}") from e
