"""Force units: N inside, kgf and lbf for people, decinewtons on the wire."""

import pytest
from traction.units import format_force, from_dn, from_newtons, parse_force, to_dn, to_newtons, unit_name


def test_conversion_factors():
    assert to_newtons(1, "kgf") == pytest.approx(9.80665)
    assert to_newtons(1, "lbf") == pytest.approx(4.4482216)
    assert from_newtons(222.41108, "lb") == pytest.approx(50.0)


@pytest.mark.parametrize("text, newtons", [("45 lbf", 200.17), ("200 N", 200.0), ("20.5kgf", 201.04),
                                            (" 10 lb ", 44.48), (".5 N", 0.5)])
def test_parse_force(text, newtons):
    assert parse_force(text) == pytest.approx(newtons, abs=0.01)


@pytest.mark.parametrize("text", ["45", "lbf", "45 furlongs", "4 5 N", ""])
def test_parse_force_refuses_what_is_not_a_force(text):
    with pytest.raises(ValueError):
        parse_force(text)


def test_unit_names_and_formatting():
    assert unit_name("LBS") == "lbf" and unit_name("newtons") == "N"
    assert format_force(200.17, "lbf") == "45.0 lbf"
    assert format_force(200.0) == "200.0 N"


def test_wire_decinewtons_round_to_nearest():
    assert to_dn(266.893) == 2669 and to_dn(0.04) == 0
    assert from_dn(2669) == 266.9
