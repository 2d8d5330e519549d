"""Treatment protocol files (TOML): read, check against the limits and the clinical norms, turn into messages.

The file format is documented in docs/integrators.md; examples/ holds working files. Refusals raise
TreatmentFileError naming the file, the field and the fix; departures from the clinical norms in
the domain brief (a clinician may have reasons) are kept in Treatment.warnings.
"""

import math
import re
import tomllib
from dataclasses import asdict, dataclass, field

from traction_protocol.constants import ANGLE_NOT_SET, MODE, REGION

from traction.errors import TreatmentFileError
from traction.units import NEWTONS_PER, format_force, parse_force, to_dn, to_newtons, unit_name

WIRE_MAX_N = 0xFFFF / 10  # the most a force field carries (u16 decinewtons, SPEC section 4)
# Region ceilings from the domain brief (cervical ~50 lb, lumbar 200 lb); a device may be lower (INFO).
REGION_MAX_N = {"cervical": 50 * NEWTONS_PER["lbf"], "lumbar": 200 * NEWTONS_PER["lbf"]}
CERVICAL_USUAL_MAX_N = 40 * NEWTONS_PER["lbf"]  # clinical cervical protocols rarely go above 40 lb
CERVICAL_START_N = (8 * NEWTONS_PER["lbf"], 12 * NEWTONS_PER["lbf"])
CERVICAL_BW_FRACTION = 0.07
LUMBAR_BW_FRACTION = (0.25, 0.50)
USUAL_MAX_TOTAL_S = 20 * 60
USUAL_MAX_ANGLE = 35
MAX_ANGLE = 45  # SETUP.angle_dd range
MAX_PHASES = 16
MAX_PHASE_S = 99 * 60
MAX_RAMP_S = 600
DEFAULT_RAMP_S = 5.0
DEFAULT_TOLERANCE_N = 5.0
SESSION_MAX_MARGIN = 1.15  # ceiling above the highest target, so ordinary overshoot is not a fault
MIN_SESSION_MAX_DN = 10  # SETUP.session_max_dn range starts at 1 N

TOP_KEYS = ("name", "region", "position", "angle", "body_weight", "unit", "tolerance", "max_force", "phase")
PHASE_KEYS = {
    "static": ("force", "duration", "ramp_up", "ramp_down"),
    "intermittent": ("force", "rest_force", "hold", "rest", "ramp_up", "ramp_down", "duration"),
    "cyclic": ("force", "rest_force", "hold", "rest", "ramp_up", "ramp_down", "repeats", "duration"),
    "progressive": ("force", "start_force", "steps", "ramp_up", "ramp_down", "duration"),
    "regressive": ("force", "end_force", "steps", "ramp_up", "ramp_down", "duration"),
}
_TIME = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|min)\s*$")
_MASS = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(kg|lb|lbs)\s*$")


@dataclass(frozen=True)
class Phase:
    """One phase of a treatment, in SI units (a file's forces converted to N, times to s)."""
    mode: str
    force_n: float
    base_n: float
    hold_s: float
    rest_s: float
    ramp_up_s: float
    ramp_down_s: float
    steps: int
    repeats: int
    duration_s: float

    def message(self, index: int) -> dict:
        """The PHASE message fields (SPEC section 4)."""
        return {"index": index, "mode": MODE[self.mode.upper()], "force_dn": to_dn(self.force_n),
                "base_dn": to_dn(self.base_n), "hold_ms": _ms(self.hold_s), "rest_ms": _ms(self.rest_s),
                "ramp_up_ms": _ms(self.ramp_up_s), "ramp_down_ms": _ms(self.ramp_down_s), "steps": self.steps,
                "repeats": self.repeats, "duration_ms": _ms(self.duration_s)}


@dataclass(frozen=True)
class Treatment:
    """A treatment protocol read from a TOML file (docs/integrators.md, "Treatment files"), checked as
    read."""
    name: str
    region: str
    position: str
    angle_deg: float | None  # None: not entered (SETUP says ANGLE_NOT_SET, the record null)
    body_weight_kg: float | None
    unit: str
    tolerance_n: float
    max_force_n: float
    phases: tuple
    file: str = ""
    warnings: tuple = field(default=(), compare=False)

    @classmethod
    def load(cls, path) -> "Treatment":
        """Read and check a treatment file; TreatmentFileError names the file, the field and the fix."""
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8")
        except FileNotFoundError:
            raise TreatmentFileError(path, "", "no such file", "check the path") from None
        except (OSError, UnicodeDecodeError) as e:
            raise TreatmentFileError(path, "", f"cannot be read ({e})", "give a UTF-8 TOML file") from None
        return cls.from_toml(text, file=str(path))

    @classmethod
    def from_toml(cls, text: str, file: str = "<treatment>") -> "Treatment":
        """A treatment from TOML text (file: the name used in error messages)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise TreatmentFileError(file, "", f"is not valid TOML ({e})", "fix the syntax there") from None
        return _Reader(file).treatment(data)

    @property
    def total_s(self) -> float:
        """The planned treatment time, seconds (all phases)."""
        return sum(p.duration_s for p in self.phases)

    @property
    def peak_n(self) -> float:
        """The highest force any phase asks for, N."""
        return max(p.force_n for p in self.phases)

    def check_device(self, info):
        """Refuse a treatment the connected board cannot run (its provisioned maxima, its modes)."""
        limit = info.region_max_n(self.region)
        if limit <= 0:
            raise TreatmentFileError(self.file, "region", f"board {info.serial} has no {self.region} maximum "
                                     "provisioned", "provision the board (service mode) before treating")
        for i, p in enumerate(self.phases, start=1):
            if p.force_n > limit:
                raise TreatmentFileError(self.file, f"phase {i}: force",
                                         f"{self.show(p.force_n)} is above the device's {self.region} "
                                         f"maximum of {self.show(limit)}",
                                         f"lower it to at most {self.show(limit)}")
            if p.mode.upper() not in info.modes:
                raise TreatmentFileError(self.file, f"phase {i}: mode", f"the board does not offer {p.mode}",
                                         f"use one of {', '.join(m.lower() for m in info.modes)}")

    def setup_message(self, session_id: int, telemetry_div: int, limit_n: float | None = None) -> dict:
        """The SETUP message fields; the session ceiling never above limit_n (the device's maximum)."""
        ceiling = self.max_force_n if limit_n is None else min(self.max_force_n, limit_n)
        angle_dd = ANGLE_NOT_SET if self.angle_deg is None else int(round(self.angle_deg * 10))
        return {"region": REGION[self.region.upper()], "angle_dd": angle_dd,
                "session_max_dn": to_dn(ceiling), "tolerance_dn": to_dn(self.tolerance_n),
                "phase_count": len(self.phases), "telemetry_div": telemetry_div, "session_id": session_id}

    def phase_messages(self) -> list[dict]:
        """The PHASE message fields, one per phase."""
        return [p.message(i) for i, p in enumerate(self.phases)]

    def show(self, newtons: float) -> str:
        """A force in N shown in the treatment's unit."""
        return format_force(newtons, self.unit)

    def to_dict(self) -> dict:
        """The treatment as plain data (what the store keeps)."""
        d = asdict(self)
        d["phases"] = [asdict(p) for p in self.phases]
        d["warnings"] = list(self.warnings)
        return d


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


class _Reader:
    """Reads one file; every refusal names the file, the field and the fix."""

    def __init__(self, file):
        self.file = file
        self.unit = "N"
        self.unit_set = False  # bare numbers are forces only when the file names its unit
        self.warnings = []

    def fail(self, field_name, problem, fix):
        raise TreatmentFileError(self.file, field_name, problem, fix)

    def treatment(self, d: dict) -> Treatment:
        self.known(d, "", TOP_KEYS)
        if "unit" in d:
            self.unit_set = True
            try:
                self.unit = unit_name(d["unit"])
            except ValueError:
                self.fail("unit", f"{d['unit']!r} is not a force unit", 'use "N", "kgf" or "lbf"')
        region = self.region(d)
        # The angle of pull is a setting the device does not measure: absent, it stays "not entered".
        angle = self.number(d, "angle", "angle", 0, MAX_ANGLE, "degrees") if "angle" in d else None
        bw = self.body_weight(d)
        raw_phases = d.get("phase")
        if not isinstance(raw_phases, list) or not raw_phases:
            self.fail("phase", "no phases", "add a [[phase]] table with a mode, a force and a duration")
        if len(raw_phases) > MAX_PHASES:
            self.fail("phase", f"{len(raw_phases)} phases", f"use at most {MAX_PHASES}")
        phases = tuple(self.phase(i, p) for i, p in enumerate(raw_phases, start=1))
        tolerance = self.force(d, "tolerance", "tolerance", default=DEFAULT_TOLERANCE_N)
        if not 0.1 <= tolerance <= 100:
            self.fail("tolerance", f"{format_force(tolerance, self.unit)} is not a usable band",
                      "give a band between 0.1 N and 100 N")
        region_max = REGION_MAX_N[region]
        for i, p in enumerate(phases, start=1):
            for name, value in (("force", p.force_n), ("base", p.base_n)):
                if value > region_max:
                    self.fail(f"phase {i}: {name}", f"{format_force(value, self.unit)} is above the {region} "
                              f"maximum of {format_force(region_max, self.unit)}",
                              f"lower it to at most {format_force(region_max, self.unit)}")
        peak = max(p.force_n for p in phases)
        default_max = min(region_max, peak * SESSION_MAX_MARGIN)
        max_force = self.force(d, "max_force", "max_force", default=default_max)
        if max_force < peak:
            self.fail("max_force", f"{format_force(max_force, self.unit)} is below the phases' "
                      f"{format_force(peak, self.unit)}", "raise it or lower the phase forces")
        if to_dn(max_force) < MIN_SESSION_MAX_DN:
            self.fail("max_force", f"{format_force(max_force, self.unit, 2)} is below the least session "
                      f"ceiling a board takes ({MIN_SESSION_MAX_DN / 10:g} N)",
                      "raise max_force (or the phase forces it follows)")
        max_force = min(max_force, region_max)
        t = Treatment(name=str(d.get("name", "")), region=region, position=str(d.get("position", "")),
                      angle_deg=angle, body_weight_kg=bw, unit=self.unit, tolerance_n=tolerance,
                      max_force_n=max_force, phases=phases, file=self.file)
        self.norms(t)
        return Treatment(**{**t.__dict__, "warnings": tuple(self.warnings)})

    def known(self, d, where, allowed):
        if not isinstance(d, dict):
            self.fail(where, "is not a table", "write it as a [[phase]] table of key = value lines")
        for key in d:
            if key not in allowed:
                self.fail(f"{where}{key}", "unknown key", f"use one of {', '.join(allowed)}")

    def region(self, d):
        region = str(d.get("region", "")).lower()
        if region not in REGION_MAX_N:
            self.fail("region", f"{d.get('region', 'missing')!r} is not a body region",
                      'set region = "cervical" or region = "lumbar"')
        return region

    def body_weight(self, d):
        if "body_weight" not in d:
            return None
        m = _MASS.match(str(d["body_weight"]))
        kg = float(m.group(1)) * (1 if m.group(2) == "kg" else 0.45359237) if m else 0
        if not 20 <= kg <= 400:
            self.fail("body_weight", f"{d['body_weight']!r} is not a body weight",
                      'write it with its unit, e.g. "80 kg" or "176 lb" (20-400 kg)')
        return kg

    def phase(self, i, p) -> Phase:
        where = f"phase {i}: "
        if not isinstance(p, dict):
            self.fail(f"phase {i}", "is not a table", "write it as a [[phase]] table")
        mode = str(p.get("mode", "")).lower()
        if mode not in PHASE_KEYS:
            self.fail(where + "mode", f"{p.get('mode', 'missing')!r} is not a mode",
                      f"use one of {', '.join(PHASE_KEYS)}")
        self.known(p, where, ("mode",) + PHASE_KEYS[mode])
        force = self.force(p, "force", where + "force")
        if to_dn(force) < 1:  # the wire carries 0.1 N steps: less would be a target of zero
            self.fail(where + "force", f"{format_force(force, self.unit, 2)} is not above zero at the "
                      "board's 0.1 N resolution", "give the traction force, e.g. \"30 lbf\"")
        ramp_up = self.time(p, "ramp_up", where, 0, MAX_RAMP_S, DEFAULT_RAMP_S)
        ramp_down = self.time(p, "ramp_down", where, 0, MAX_RAMP_S, DEFAULT_RAMP_S)
        base = hold = rest = 0.0
        steps = repeats = 0
        if mode in ("intermittent", "cyclic"):
            base = self.force(p, "rest_force", where + "rest_force", default=force / 2)
            if base > force:
                self.fail(where + "rest_force", "is above the traction force", "make it at most the force")
            hold = self.time(p, "hold", where, 1, MAX_PHASE_S)
            rest = self.time(p, "rest", where, 0, MAX_PHASE_S)
        if mode in ("progressive", "regressive"):
            key = "start_force" if mode == "progressive" else "end_force"
            base = self.force(p, key, where + key, default=0.0)
            if base >= force:
                self.fail(where + key, "is not below the force", f"make {key} lower than force")
            steps = self.count(p, "steps", where + "steps", 1, 20, "steps")
            step_s = self.time(p, "duration", where, 1, MAX_PHASE_S) / steps
            for key, ramp in (("ramp_up", ramp_up), ("ramp_down", ramp_down)):
                if ramp >= step_s:  # SPEC 8: a step ramp must be shorter than the step
                    self.fail(where + key, f"{ramp:g} s is not shorter than a step ({step_s:g} s)",
                              "shorten the ramp, use fewer steps or a longer duration")
        if mode == "cyclic":
            repeats = self.count(p, "repeats", where + "repeats", 1, 1000, "cycles")
            cycle = ramp_up + hold + ramp_down + rest
            duration = repeats * cycle
            if "duration" in p and abs(self.time(p, "duration", where, 1, MAX_PHASE_S) - duration) > 1e-3:
                self.fail(where + "duration", f"does not equal repeats x cycle ({duration:g} s)",
                          "leave duration out: a cyclic phase's duration is computed")
            if not 1 <= duration <= MAX_PHASE_S:
                self.fail(where + "repeats", f"make the phase last {duration:g} s",
                          f"keep repeats x (ramp_up + hold + ramp_down + rest) within 1..{MAX_PHASE_S} s")
        else:
            duration = self.time(p, "duration", where, 1, MAX_PHASE_S)
        return Phase(mode, force, base, hold, rest, ramp_up, ramp_down, steps, repeats, duration)

    def force(self, d, key, where, default=None):
        if key not in d:
            if default is None:
                self.fail(where, "is missing", f'add {key} = "<value> {self.unit}"')
            return default
        v = d[key]
        try:
            if isinstance(v, int | float) and not isinstance(v, bool):
                if not self.unit_set:
                    raise ValueError
                newtons = to_newtons(v, self.unit)
            else:
                newtons = parse_force(str(v))
        except ValueError:
            return self.fail(where, f"{v!r} is not a force",
                             'write it with its unit, e.g. "45 lbf", "200 N", "20 kgf" (or set unit = "lbf" '
                             "at the top of the file to use bare numbers)")
        if not math.isfinite(newtons) or newtons < 0:
            self.fail(where, f"{v!r} is not a force of zero or more", 'give a finite force, e.g. "45 lbf"')
        if newtons > WIRE_MAX_N:
            self.fail(where, f"{v!r} is more than any board takes ({WIRE_MAX_N:g} N)",
                      "give the force the treatment needs, within the board's maxima (traction info)")
        return newtons

    def time(self, d, key, where, lo, hi, default=None):
        if key not in d:
            if default is None:
                self.fail(where + key, "is missing", f'add {key} = "<n> s" or "<n> min"')
            return default
        v = d[key]
        seconds = None
        if isinstance(v, int | float) and not isinstance(v, bool):
            seconds = float(v)
        elif (m := _TIME.match(str(v))) is not None:
            seconds = float(m.group(1)) * {"ms": 0.001, "s": 1, "sec": 1, "min": 60}[m.group(2)]
        if seconds is None:
            self.fail(where + key, f"{v!r} is not a time", 'write e.g. "60 s", "15 min" or seconds')
        if not lo <= seconds <= hi:
            self.fail(where + key, f"{seconds:g} s is outside {lo:g}..{hi:g} s",
                      f"choose a time in {lo:g}..{hi:g} s")
        return seconds

    def number(self, d, key, where, lo, hi, what, default=None):
        if key not in d:
            if default is None:
                self.fail(where, "is missing", f"add {key} = <number of {what}>")
            return default
        v = d[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            self.fail(where, f"{v!r} is outside {lo}..{hi} {what}", f"give a number of {what} in {lo}..{hi}")
        return float(v)

    def count(self, d, key, where, lo, hi, what):
        """A whole number (steps, repeats): 2.5 steps is refused, not run as 2."""
        v = self.number(d, key, where, lo, hi, what)
        if v != int(v):
            self.fail(where, f"{d[key]!r} is not a whole number of {what}",
                      f"give a whole number of {what} in {lo}..{hi}")
        return int(v)

    def norms(self, t: Treatment):
        """Warn (do not refuse) where the plan departs from the clinical norms in the domain brief."""
        show = t.show
        bw_n = t.body_weight_kg * 9.80665 if t.body_weight_kg else None
        if t.region == "lumbar":
            if bw_n is None:
                self.warnings.append("body_weight not given: cannot check the force against the lumbar norm "
                                     "(25-50% of body weight)")
            else:
                lo, hi = (f * bw_n for f in LUMBAR_BW_FRACTION)
                for i, p in enumerate(t.phases, start=1):
                    if not lo <= p.force_n <= hi:
                        self.warnings.append(f"phase {i}: force {show(p.force_n)} is outside the lumbar "
                                             f"norm of 25-50% of body weight ({show(lo)}..{show(hi)})")
        else:
            first = t.phases[0]
            start = first.base_n if first.mode == "progressive" and first.base_n else first.force_n
            if start > CERVICAL_START_N[1]:
                self.warnings.append(f"phase 1: cervical treatments usually start at 8-12 lb; this one "
                                     f"starts at {show(start)}")
            ceiling = CERVICAL_BW_FRACTION * bw_n if bw_n else CERVICAL_USUAL_MAX_N
            basis = "about 7% of body weight" if bw_n else "40 lb, rarely exceeded in cervical protocols"
            for i, p in enumerate(t.phases, start=1):
                if p.force_n > ceiling:
                    self.warnings.append(f"phase {i}: force {show(p.force_n)} is above {show(ceiling)} "
                                         f"({basis})")
        if t.total_s > USUAL_MAX_TOTAL_S:
            self.warnings.append(f"total time {t.total_s / 60:g} min is longer than the usual 10-20 min")
        if t.angle_deg is None:
            self.warnings.append("angle not given: the record will say the angle of pull was not entered, "
                                 "and a claim lists it as missing documentation")
        elif t.angle_deg > USUAL_MAX_ANGLE:
            self.warnings.append(f"angle {t.angle_deg:g} degrees is above the usual 0-35 degrees")
