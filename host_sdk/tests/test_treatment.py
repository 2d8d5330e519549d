"""Treatment files: parsing, units, refusals that name file/field/fix, clinical-norm warnings, wire fields."""

from pathlib import Path

import pytest
from traction.device import Info
from traction.errors import TreatmentFileError
from traction.treatment import PHASE_KEYS, Treatment

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

LUMBAR = """
region = "lumbar"
body_weight = "80 kg"
[[phase]]
mode = "static"
force = "60 lbf"
duration = "10 min"
"""


def load(text, file="t.toml"):
    return Treatment.from_toml(text, file=file)


def refusal(text):
    with pytest.raises(TreatmentFileError) as e:
        load(text)
    return e.value


@pytest.mark.parametrize("name", ["lumbar_intermittent_15min", "cervical_intermittent", "lumbar_progressive"])
def test_examples_are_valid_and_within_the_norms(name):
    t = Treatment.load(EXAMPLES / f"{name}.toml")
    assert t.warnings == ()
    assert 10 * 60 <= t.total_s <= 15 * 60


def test_demo_treatment_becomes_setup_and_phase_messages():
    t = Treatment.load(EXAMPLES / "lumbar_intermittent_15min.toml")
    setup = t.setup_message(session_id=9, telemetry_div=5)
    assert setup == {"region": 2, "angle_dd": 150, "session_max_dn": 3069, "tolerance_dn": 50,
                     "phase_count": 1, "telemetry_div": 5, "session_id": 9}
    (phase,) = t.phase_messages()
    assert phase == {"index": 0, "mode": 2, "force_dn": 2669, "base_dn": 1334, "hold_ms": 60000,
                     "rest_ms": 20000, "ramp_up_ms": 10000, "ramp_down_ms": 10000, "steps": 0, "repeats": 0,
                     "duration_ms": 900000}


def test_forces_in_any_unit_and_bare_numbers_with_a_unit_key():
    a = load(LUMBAR)
    b = load(LUMBAR.replace('"60 lbf"', '"27.2155 kgf"'))
    c = load('unit = "lbf"\n' + LUMBAR.replace('"60 lbf"', "60"))
    assert a.phases[0].force_n == pytest.approx(266.893, abs=0.01)
    assert b.phases[0].force_n == pytest.approx(a.phases[0].force_n, abs=0.01)
    assert c.phases[0].force_n == a.phases[0].force_n and c.unit == "lbf"


def test_a_bare_number_without_a_unit_is_refused_with_the_fix():
    e = refusal(LUMBAR.replace('"60 lbf"', "60"))
    assert (e.file, e.field) == ("t.toml", "phase 1: force") and 'unit = "lbf"' in e.fix
    assert str(e).startswith("t.toml: phase 1: force: 60 is not a force")


def test_cyclic_duration_is_computed_and_a_wrong_one_refused():
    text = """region = "cervical"
[[phase]]
mode = "cyclic"
force = "10 lbf"
rest_force = "5 lbf"
hold = "30 s"
rest = "10 s"
ramp_up = "5 s"
ramp_down = "5 s"
repeats = 10
"""
    t = load(text)
    assert t.total_s == 500 and t.phase_messages()[0]["duration_ms"] == 500000
    assert t.phase_messages()[0]["repeats"] == 10
    e = refusal(text + 'duration = "10 min"\n')
    assert e.field == "phase 1: duration" and "computed" in e.fix


@pytest.mark.parametrize("change, field, words", [
    (('region = "lumbar"', 'region = "thoracic"'), "region", "cervical"),
    (("force =", "forse ="), "phase 1: forse", "use one of"),
    (('"60 lbf"', '"250 lbf"'), "phase 1: force", "lower it to at most 889.6 N"),
    (('"10 min"', '"100 min"'), "phase 1: duration", "1..5940 s"),
    (('"10 min"', '"ten minutes"'), "phase 1: duration", "15 min"),
    (('"static"', '"wobble"'), "phase 1: mode", "intermittent"),
    (('"80 kg"', '"80"'), "body_weight", "80 kg"),
    (('"static"', '"progressive"\nsteps = 4\nramp_up = "150 s"'), "phase 1: ramp_up",
     "150 s is not shorter than a step (150 s)"),
])
def test_refusals_name_the_field_and_the_fix(change, field, words):
    text = LUMBAR.replace(*change)
    if "250 lbf" in text:
        text = 'unit = "N"\n' + text
    e = refusal(text)
    assert e.field == field
    assert words in str(e), str(e)


def test_region_maximum_is_refused_not_warned():
    e = refusal(LUMBAR.replace('"lumbar"', '"cervical"'))
    assert e.field == "phase 1: force" and "above the cervical maximum of 222.4 N" in e.problem


def test_intermittent_rest_above_force_and_short_hold_are_refused():
    base = """region = "lumbar"
[[phase]]
mode = "intermittent"
force = "200 N"
rest_force = "%s"
hold = "%s"
rest = "20 s"
duration = "5 min"
"""
    assert refusal(base % ("250 N", "60 s")).field == "phase 1: rest_force"
    assert refusal(base % ("100 N", "0.5 s")).field == "phase 1: hold"


def test_invalid_toml_and_missing_file():
    e = refusal("region = \n")
    assert e.file == "t.toml" and "not valid TOML" in str(e)
    with pytest.raises(TreatmentFileError, match="nope.toml: no such file"):
        Treatment.load("nope.toml")


def test_clinical_norm_warnings():
    low = load(LUMBAR.replace('"60 lbf"', '"30 lbf"'))
    assert "outside the lumbar norm of 25-50% of body weight" in low.warnings[0]
    no_bw = load(LUMBAR.replace('body_weight = "80 kg"\n', ""))
    assert "body_weight not given" in no_bw.warnings[0]
    cervical = load(LUMBAR.replace('"lumbar"', '"cervical"').replace('"60 lbf"', '"20 lbf"'))
    assert any("above 5.6 kgf" in w or "about 7% of body weight" in w for w in cervical.warnings)
    assert any("usually start at 8-12 lb" in w for w in cervical.warnings)
    long_steep = load(LUMBAR.replace('"10 min"', '"30 min"').replace('region', 'angle = 40\nregion'))
    assert any("longer than the usual" in w for w in long_steep.warnings)
    assert any("above the usual 0-35 degrees" in w for w in long_steep.warnings)


def test_device_maxima_from_info_are_enforced():
    info = Info(serial="X", firmware="0.1.0", protocol=2, sim=True, time_scale=1, control_hz=100,
                hard_max_n=300.0, cervical_max_n=200.0, lumbar_max_n=800.0, modes=("STATIC", "INTERMITTENT"),
                calibrated=True, cal_date=None, lease_min_ms=500, lease_max_ms=10000, state="IDLE")
    t = load(LUMBAR.replace('"60 lbf"', '"60 kgf"'))
    with pytest.raises(TreatmentFileError, match="above the device's lumbar maximum of 300.0 N"):
        t.check_device(info)
    ok = load(LUMBAR)
    ok.check_device(info)
    assert ok.setup_message(1, 10, limit_n=290.0)["session_max_dn"] == 2900


def test_an_unprovisioned_board_is_named_as_such():
    info = Info(serial="NEW", firmware="0.1.0", protocol=2, sim=False, time_scale=1, control_hz=100,
                hard_max_n=0.0, cervical_max_n=0.0, lumbar_max_n=0.0, modes=("STATIC",), calibrated=False,
                cal_date=None, lease_min_ms=500, lease_max_ms=10000, state="IDLE")
    with pytest.raises(TreatmentFileError, match="no lumbar maximum provisioned; provision the board"):
        load(LUMBAR).check_device(info)


# ---- every number: finite, in range, whole where it must be; the file and the field named ----

NUMBERS = 'unit = "N"\nregion = "lumbar"\nbody_weight = "80 kg"\n{top}[[phase]]\nmode = "{mode}"\n{body}'


@pytest.mark.parametrize("top, mode, body, field, words", [
    ("", "static", "force = nan\nduration = 600\n", "phase 1: force", "nan is not a force"),
    ("", "static", "force = inf\nduration = 600\n", "phase 1: force", "inf is not a force"),
    ("max_force = nan\n", "static", "force = 200\nduration = 600\n", "max_force", "nan is not a force"),
    ("max_force = -5\n", "static", "force = 200\nduration = 600\n", "max_force", "-5 is not a force"),
    ("", "intermittent", "force = 200\nrest_force = nan\nhold = 30\nrest = 10\nduration = 600\n",
     "phase 1: rest_force", "nan is not a force"),
    ("", "static", 'force = "0.01 N"\nduration = 600\n', "phase 1: force", "0.1 N resolution"),
    ("", "static", 'force = "0.5 N"\nduration = 600\n', "max_force", "least session ceiling"),
    ("", "progressive", "force = 200\nsteps = 2.5\nduration = 600\n", "phase 1: steps", "2.5 is not a whole"),
    ("", "cyclic", "force = 200\nhold = 30\nrest = 10\nrepeats = 3.5\n", "phase 1: repeats",
     "3.5 is not a whole"),
    ("tolerance = nan\n", "static", "force = 200\nduration = 600\n", "tolerance", "nan is not a force"),
    ("angle = nan\n", "static", "force = 200\nduration = 600\n", "angle", "nan is outside"),
    ("", "static", "force = 200\nduration = nan\n", "phase 1: duration", "nan s is outside"),
    ("", "static", "force = 200\nramp_up = inf\nduration = 600\n", "phase 1: ramp_up", "inf s is outside"),
])
def test_a_bad_number_is_refused_naming_the_file_and_the_field(top, mode, body, field, words):
    with pytest.raises(TreatmentFileError) as e:
        Treatment.from_toml(NUMBERS.format(top=top, mode=mode, body=body), file="plan.toml")
    assert e.value.file == "plan.toml" and e.value.field == field
    assert str(e.value).startswith(f"plan.toml: {field}: ") and words in str(e.value), str(e.value)


def _any_number():
    from hypothesis import strategies as st

    return st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
                     st.floats(min_value=-1, max_value=1000).map(lambda v: f"{v} N"))


def _toml(value):
    import math

    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return repr(value)


def test_any_number_anywhere_is_refused_or_becomes_messages_the_board_takes():
    """Fuzz: whatever numbers a file holds, it is refused with a TreatmentFileError or every message it
    becomes encodes (no NaN, EncodeError or silent truncation reaches the wire)."""
    from hypothesis import example, given, settings
    from hypothesis import strategies as st
    from traction_protocol import encode

    keys = ("force", "rest_force", "hold", "rest", "ramp_up", "ramp_down", "duration", "steps", "repeats",
            "start_force")

    @settings(max_examples=300, deadline=None)
    @given(st.sampled_from(("intermittent", "cyclic", "progressive")), st.dictionaries(
        st.sampled_from(keys), _any_number(), min_size=1), _any_number())
    @example("intermittent", {"force": 1.797693134862316e+307}, 0.0)  # finite, but x10 on the wire is not
    def check(mode, values, max_force):
        fields = {"force": 200, "hold": 30, "rest": 10, "duration": 600, "steps": 4, "repeats": 5}
        fields.update(values)
        allowed = [k for k in PHASE_KEYS[mode] if not (mode == "cyclic" and k == "duration")]
        body = "".join(f"{k} = {_toml(v)}\n" for k, v in fields.items() if k in allowed)
        text = NUMBERS.format(top=f"max_force = {_toml(max_force)}\n", mode=mode, body=body)
        try:
            t = Treatment.from_toml(text, file="fuzz.toml")
        except TreatmentFileError as e:
            assert e.file == "fuzz.toml" and e.field
            return
        for p in t.phases:
            assert p.steps == int(p.steps) and p.repeats == int(p.repeats)
        encode("SETUP", 1, t.setup_message(1, 10))
        for fields_ in t.phase_messages():
            encode("PHASE", 1, fields_)

    check()
