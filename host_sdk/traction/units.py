"""Force units. Everything inside is newtons; people read and write N, kgf or lbf."""

import re

NEWTONS_PER = {"N": 1.0, "kgf": 9.80665, "lbf": 4.4482216152605}
# Spellings people use, mapped to the three names above.
ALIASES = {"n": "N", "newton": "N", "newtons": "N", "kgf": "kgf", "kg": "kgf", "lbf": "lbf", "lb": "lbf",
           "lbs": "lbf"}
_QUANTITY = re.compile(r"^\s*([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*([A-Za-z]+)\s*$")


def unit_name(text: str) -> str:
    """The canonical unit name for a spelling ("lb" -> "lbf"); ValueError if unknown."""
    name = ALIASES.get(str(text).strip().lower())
    if name is None:
        raise ValueError(f"unknown force unit {text!r} (use N, kgf or lbf)")
    return name


def to_newtons(value: float, unit: str) -> float:
    """A force in unit (N, kgf, lbf) in newtons."""
    return float(value) * NEWTONS_PER[unit_name(unit)]


def from_newtons(newtons: float, unit: str) -> float:
    """A force in newtons in unit (N, kgf, lbf)."""
    return float(newtons) / NEWTONS_PER[unit_name(unit)]


def parse_force(text: str) -> float:
    """Newtons from a quantity such as "45 lbf", "200 N" or "20.5 kgf"; ValueError otherwise."""
    m = _QUANTITY.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a force such as \"45 lbf\", \"200 N\" or \"20 kgf\"")
    return to_newtons(float(m.group(1)), m.group(2))


def format_force(newtons: float, unit: str = "N", digits: int = 1) -> str:
    """A force in newtons written in unit, e.g. "45.0 lbf"."""
    name = unit_name(unit)
    return f"{from_newtons(newtons, name):.{digits}f} {name}"


def to_dn(newtons: float) -> int:
    """Wire decinewtons, rounded to the nearest 0.1 N."""
    return int(round(newtons * 10))


def from_dn(dn: int) -> float:
    """Wire decinewtons in newtons."""
    return dn / 10.0
