"""Generates the catalogue and code tables of SPEC.md from traction_protocol, so the two cannot drift.

    python protocol/spec_tables.py           print the generated section
    python protocol/spec_tables.py --write   rewrite it in SPEC.md between the markers
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from traction_protocol import constants  # noqa: E402
from traction_protocol.messages import CATALOGUE, Spec  # noqa: E402

SPEC = Path(__file__).with_name("SPEC.md")
BEGIN = "<!-- generated:begin (protocol/spec_tables.py) -->"
END = "<!-- generated:end -->"
KIND = {"B": "u8", "H": "u16", "I": "u32", "b": "i8", "h": "i16", "i": "i32",
        "text16": "char[16]", "bytes32": "u8[32]"}


def message_section(spec):
    lines = [f"#### 0x{spec.type_id:02X} {spec.name}", ""]
    who = "host → board" if spec.sender == "host" else "board → host"
    reply = f"; answered by {spec.reply}" if spec.reply else ""
    lines.append(f"Sent {who}{reply}. Payload: {spec.size} bytes" + (" + tail." if spec.tail else "."))
    lines.append("")
    if spec.fields or spec.tail:
        lines += ["| offset | field | type | range | unit | meaning |", "|---|---|---|---|---|---|"]
        offset = 0
        for name, kind, lo, hi, unit, doc in spec.fields:
            size = Spec((0, "", "", None, ((name, kind, lo, hi, unit, doc),), None)).size
            rng = "-" if kind in ("text16", "bytes32") else f"{lo}..{hi}"
            lines.append(f"| {offset} | `{name}` | {KIND[kind]} | {rng} | {unit} | {doc} |")
            offset += size
        if spec.tail:
            tname, kind, items, max_count = spec.tail
            if kind == "bytes":
                lines.append(f"| {offset} | `{tname}` | u8[0..{max_count}] | | byte | "
                             "the rest of the payload |")
            else:
                types = ", ".join(f"`{n}` {KIND[c]}" for n, c in zip(items, kind[7:], strict=True))
                lines.append(f"| {offset} | `{tname}` | repeated 0..{max_count} × ({types}) | | | "
                             "items fill the rest of the payload |")
    else:
        lines.append("No fields.")
    lines.append("")
    return lines


def code_table(title, table):
    lines = [f"### {title}", "", "| code | name | meaning |", "|---|---|---|"]
    lines += [f"| {code} | `{name}` | {doc} |" for code, name, doc in table]
    return lines + [""]


def generated():
    lines = [BEGIN, "", "### Message catalogue", ""]
    for entry in CATALOGUE:
        lines += message_section(Spec(entry))
    lines += code_table("States", constants.STATES)
    lines += code_table("Modes", constants.MODES)
    lines += code_table("Regions", constants.REGIONS)
    lines += code_table("Segments", constants.SEGMENTS)
    lines += code_table("Error codes (NAK `error`)", constants.ERRORS)
    lines += code_table("Fault codes", constants.FAULTS)
    lines += code_table("Event kinds", constants.EVENTS)
    lines.append(END)
    return "\n".join(lines)


def spliced(text):
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + generated() + tail


if __name__ == "__main__":
    if "--write" in sys.argv:
        SPEC.write_text(spliced(SPEC.read_text()))
    else:
        print(generated())
