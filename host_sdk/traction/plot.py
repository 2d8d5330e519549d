"""A session's force and target against time, with phases and events marked (PNG, no display needed)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from traction_protocol.constants import STATE, STATE_NAME  # noqa: E402

from traction.session import Event  # noqa: E402
from traction.treatment import Treatment  # noqa: E402
from traction.units import from_newtons, unit_name  # noqa: E402

MARKED = ("PAUSE", "RESUME", "EDIT", "FAULT", "STOP_SWITCH")
COLOURS = {"FAULT": "tab:red", "STOP_SWITCH": "tab:red", "PAUSE": "tab:purple", "RESUME": "tab:purple",
           "EDIT": "tab:green", "RELEASING": "tab:gray"}


def plot_session(telemetry: list[dict], events: list[dict], path, unit: str = "N", title: str = "",
                 treatment: Treatment | None = None):
    """telemetry and events as the store returns them; writes path (PNG) and returns it. The time axis is
    the device clock since the treatment started, pauses included (as Sample.t_s and the events' ms);
    treatment, when given, lets an edit in a stepped phase say what the board did (Event.describe)."""
    unit = unit_name(unit)
    running = [r for r in telemetry if r["state"] == STATE["RUNNING"]]
    t0 = (running or telemetry or [{"t_ms": 0}])[0]["t_ms"]
    t = [(r["t_ms"] - t0) / 1000 for r in telemetry]
    minutes = bool(t) and t[-1] > 120
    scale = 60 if minutes else 1
    x = [v / scale for v in t]
    fig, ax = plt.subplots(figsize=(11, 5), dpi=100)
    ax.plot(x, [from_newtons(r["target_dn"] / 10, unit) for r in telemetry], color="tab:orange", lw=1.2,
            ls="--", label="target")
    ax.plot(x, [from_newtons(r["force_dn"] / 10, unit) for r in telemetry], color="tab:blue", lw=1.0,
            label="measured force")
    _shade_phases(ax, telemetry, x)
    _mark_events(ax, events, scale, unit, treatment)
    since = "time since the start, pauses included (device clock)"
    ax.set_xlabel(f"{since} [min]" if minutes else f"{since} [s]")
    ax.set_ylabel(f"force [{unit}]")
    ax.set_title(title or "Traction session", loc="left")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", bbox_to_anchor=(1, 1), ncol=2, frameon=False)  # above the plot
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _shade_phases(ax, telemetry, x):
    """Alternate light bands for each phase while treating; a grey band for the release."""
    spans = []  # (label, start x, end x)
    for r, xi in zip(telemetry, x, strict=True):
        label = "release" if r["state"] == STATE["RELEASING"] else (
            f"phase {r['phase'] + 1}" if r["state"] in (STATE["RUNNING"], STATE["PAUSED"]) else None)
        if spans and spans[-1][0] == label:
            spans[-1][2] = xi
        else:
            spans.append([label, xi, xi])
    for i, (label, a, b) in enumerate(s for s in spans if s[0]):
        colour = "tab:gray" if label == "release" else ("tab:blue" if i % 2 == 0 else "tab:cyan")
        ax.axvspan(a, b, color=colour, alpha=0.07, lw=0)
        ax.annotate(label, xy=(a, 1), xycoords=("data", "axes fraction"), xytext=(2, -12),
                    textcoords="offset points", fontsize=8, color="dimgray")


def _mark_events(ax, events, scale, unit, treatment):
    started = False
    for row in events:
        e = Event.from_fields(row)
        if e.kind == "STATE" and STATE_NAME.get(e.code) == "RUNNING":
            started = True  # event times count from the session's start only from here on
            continue
        if not started:
            continue
        key = e.kind if e.kind in MARKED else ("RELEASING" if e.kind == "STATE" and
                                                STATE_NAME.get(e.code) in ("RELEASING", "FAULT") else None)
        if key is None:
            continue
        xe = e.ms / 1000 / scale
        ax.axvline(xe, color=COLOURS.get(key, "black"), lw=0.8, ls=":")
        ax.annotate(e.describe(unit, treatment), xy=(xe, 0.02), xycoords=("data", "axes fraction"),
                    rotation=90, fontsize=7, xytext=(2, 0), textcoords="offset points",
                    color=COLOURS.get(key, "black"))
