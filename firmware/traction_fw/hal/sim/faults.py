# The faults and physical conditions the sim accepts, with their parameters: ONE table, used by
# Sim.inject on the board and by the virtual-board launcher on the host (traction/virtual_board.py
# imports this module), so what `traction inject` accepts and what the board applies cannot diverge.
# Pure Python for MicroPython and CPython alike. Meanings: docs/virtual-plant.md, "Fault injection".

# name, ((param, kind, limits), ...)
#   kind "number": int or float; "int": a whole number; "bool": true or false; "text": a string.
#   limits: (low, high) for numbers (None: open), the choices for text, None for bool.
FAULTS = (
    ("loadcell_disconnected", (("mode", "text", ("rails", "zero")),)),
    ("loadcell_stuck", ()),
    ("loadcell_stale", ()),
    ("loadcell_spikes", (("per_s", "number", (0, None)), ("size_n", "number", (0, None)))),
    ("loadcell_plateau", (("level_n", "number", (None, None)),)),
    ("loadcell_gain", (("scale", "number", (0, 10)),)),
    ("loadcell_offset_step", (("step_n", "number", (None, None)),)),
    ("current_sense_fail", (("mode", "text", ("zero", "rails", "stuck")),)),
    ("encoder_fail", ()),
    ("cable_snap", ()),
    ("motor_stalled", ()),
    ("motor_ignoring", (("speed", "int", (-1000, 1000)),)),
    ("motor_runaway", (("speed", "int", (-1000, 1000)),)),
    ("stop_switch", (("pressed", "bool", None),)),
    ("service_jumper", (("present", "bool", None),)),
    ("weight", (("kg", "number", (0, 500)),)),
    ("link_silent", ()),
    ("loop_late", (("periods", "int", (1, 100)),)),
    ("reset", ()),
)

NAMES = tuple(f[0] for f in FAULTS)

_KIND_TEXT = {"number": "a number", "int": "a whole number", "bool": "true or false", "text": "text"}


def params_of(name):
    """The parameter specs of a fault: ((param, kind, limits), ...). ValueError for an unknown name."""
    for n, params in FAULTS:
        if n == name:
            return params
    raise ValueError("unknown fault %r: one of %s" % (name, ", ".join(NAMES)))


def check(name, params):
    """Raise ValueError, with one line that says what is wrong, unless name and params are acceptable."""
    specs = params_of(name)
    known = [s[0] for s in specs]
    for key in params:
        if key not in known:
            if not known:
                raise ValueError("%s takes no parameters, not %r" % (name, key))
            raise ValueError("%s has no parameter %r (it takes %s)" % (name, key, ", ".join(known)))
    for key, kind, limits in specs:
        if key in params:
            _check_value(name, key, kind, limits, params[key])


def _check_value(name, key, kind, limits, value):
    what = "%s %s" % (name, key)
    is_bool = value is True or value is False
    if kind == "bool":
        ok = is_bool
    elif kind == "text":
        ok = isinstance(value, str)
    elif kind == "int":
        ok = isinstance(value, int) and not is_bool
    else:
        ok = isinstance(value, (int, float)) and not is_bool
    if not ok:
        raise ValueError("%s must be %s, not %r" % (what, _KIND_TEXT[kind], value))
    if kind == "text" and limits and value not in limits:
        raise ValueError("%s must be one of %s, not %r" % (what, ", ".join(limits), value))
    if kind in ("number", "int") and limits:
        lo, hi = limits
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError("%s must be %s, not %r" % (what, _range_text(lo, hi), value))


def _range_text(lo, hi):
    if hi is None:
        return "at least %s" % lo
    if lo is None:
        return "at most %s" % hi
    return "%s..%s" % (lo, hi)
