"""ICD-10-CM diagnosis checks against the small code table shipped in rules/icd10cm.json.

The table holds the spinal codes this product's billing is about, with billable status and dates. A
well-formed code outside it is reported as "not in our table": we do not pretend to know all of ICD-10-CM.
"""

import json
import re
from datetime import date
from functools import cache
from importlib import resources

# A letter, a digit, a character, then optionally a dot and 1-4 more (Official Guidelines I.A).
FORMAT = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")


@cache
def table() -> dict:
    """The shipped ICD-10-CM codes this product checks against (rules/icd10cm.json), read once."""
    text = resources.files("traction.billing").joinpath("rules/icd10cm.json").read_text()
    return json.loads(text)["codes"]


def normalize(code: str) -> str:
    """Upper case, dot after the category ("m5416" -> "M54.16"); as typed otherwise."""
    text = str(code).strip().upper()
    if "." not in text and len(text) > 3:
        text = text[:3] + "." + text[3:]
    return text


def check(code: str, on: date) -> dict:
    """{"code", "title", "status", "problem", "rule"}: status is billable, invalid or unknown."""
    text = normalize(code)
    if not FORMAT.match(text):
        return _result(
            text, None, "invalid", f"{code!r} is not an ICD-10-CM code (e.g. M54.16)", "ICD-FORMAT"
        )
    entry = table().get(text)
    if entry is None:
        return _result(
            text,
            None,
            "unknown",
            f"{text} is not in our table; verify it in your coding software",
            "ICD-NOT-IN-TABLE",
        )
    title = entry["title"]
    if not entry["billable"]:
        more = ", ".join(entry["children"])
        return _result(
            text,
            title,
            "invalid",
            f"{text} is a category, not billable: code to full specificity ({more})",
            "ICD-SPECIFICITY",
        )
    if "until" in entry and on > date.fromisoformat(entry["until"]):
        more = "/".join(entry["replaced_by"])
        return _result(
            text, title, "invalid", f"{text} was deleted after {entry['until']}: use {more}", "ICD-DELETED"
        )
    if on < date.fromisoformat(entry["from"]):
        return _result(
            text,
            title,
            "invalid",
            f"{text} takes effect on {entry['from']}, after the date of service",
            "ICD-DELETED",
        )
    return _result(text, title, "billable", None, "ICD-SPECIFICITY")


def _result(code, title, status, problem, rule) -> dict:
    return {"code": code, "title": title, "status": status, "problem": problem, "rule": rule}
