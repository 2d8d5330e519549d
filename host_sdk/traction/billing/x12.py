"""X12 837P (005010X222A1) professional claim interchange from a billing-ready summary.

One interchange, one functional group, one transaction, one claim: billing provider (2010AA), subscriber
who is the patient (2000B/2010BA), payer (2010BB), the claim (2300) with its diagnoses (HI), the referring
(certifying) provider, rendering and supervising providers (2310A/2310B/2310D) and one 2400 service line
per billing line (SV1 + DTP*472).
Only a billing-ready summary is exported: a claim that is known to be wrong is not written.
"""

from datetime import datetime

from traction.errors import TractionError

IMPLEMENTATION = "005010X222A1"
PEOPLE = ("rendering", "supervising", "referring")
# N402 state or province (X12 code source 22): US states, DC, territories, military post offices, Canada.
STATES = frozenset("""
    AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND
    OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS FM GU MH MP PR VI AA AE AP
    AB BC MB NB NF NS NT ON PE PQ SK YT""".split())
# The context fields the 837P writes and the sizes of their elements (005010X222A1), so that a claim the
# CLAIM-DATA edit passes always validates: NM103 60, NM104 35, NM109 2-80, N301 55, N401 2-30, N402 2,
# N403 3-15, PER02 60, REF02 50, CLM01 38, PRV03 50.
ELEMENT_SIZES = (
    ("patient.member_id", 2, 80),
    ("patient.sex", 1, 1),
    ("patient.last_name", 1, 60),
    ("patient.first_name", 1, 35),
    *((f"{who}.address.{part}", lo, hi) for who in ("patient", "billing_provider")
      for part, lo, hi in (("line", 1, 55), ("city", 2, 30), ("state", 2, 2), ("zip", 3, 15))),
    ("billing_provider.name", 1, 60),
    ("billing_provider.tax_id", 1, 50),
    ("billing_provider.contact", 1, 60),
    ("billing_provider.phone", 1, 256),
    ("payer.name", 1, 60),
    ("encounter.claim_id", 1, 38),
)
PT_TAXONOMY = "225100000X"
SEGMENT, ELEMENT, COMPONENT, REPETITION = "~", "*", ":", "^"


class ExportError(TractionError):
    """A summary or context that cannot be written in the asked format."""


def interchange(summary: dict, control_number: int = 1, production: bool = False) -> str:
    """The 837P interchange text (segments end with '~' and a newline for readability)."""
    if not summary["billing_ready"]:
        raise ExportError("the summary is not billing-ready: " + "; ".join(summary["blocking"]))
    context = _Fields(summary["clinician_context"]["data"])
    created = _created(context)
    sender = context.text("x12.sender_id", default=context.text("billing_provider.npi"))
    receiver = context.text("x12.receiver_id", default=context.text("payer.payer_id"))
    claim_id = context.text("encounter.claim_id")
    segments = [
        ["BHT", "0019", "00", claim_id, created.strftime("%Y%m%d"), created.strftime("%H%M"), "CH"],
        *_submitter_and_receiver(context, sender, receiver),
        *_billing_provider(context),
        *_subscriber(context, summary),
        *_claim(context, summary, claim_id),
    ]
    for number, line in enumerate(summary["lines"], start=1):
        segments += _service_line(number, line, summary)
    transaction = [["ST", "837", "0001", IMPLEMENTATION], *segments]
    transaction.append(["SE", str(len(transaction) + 1), "0001"])
    control = f"{control_number:09d}"
    envelope = [
        [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            "ZZ",
            sender.ljust(15)[:15],
            "ZZ",
            receiver.ljust(15)[:15],
            created.strftime("%y%m%d"),
            created.strftime("%H%M"),
            REPETITION,
            "00501",
            control,
            "0",
            "P" if production else "T",
            COMPONENT,
        ],
        [
            "GS",
            "HC",
            sender,
            receiver,
            created.strftime("%Y%m%d"),
            created.strftime("%H%M"),
            str(control_number),
            "X",
            IMPLEMENTATION,
        ],
        *transaction,
        ["GE", "1", str(control_number)],
        ["IEA", "1", control],
    ]
    return "".join(ELEMENT.join(_trim(s)) + SEGMENT + "\n" for s in envelope)


class _Fields:
    """Dotted access to the context that names the missing field when the claim needs it."""

    def __init__(self, data: dict):
        self.data = data

    def text(self, dotted: str, default=None) -> str:
        return _clean(self.raw(dotted, default))

    def raw(self, dotted: str, default=None) -> str:
        node = self.data
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None or node == "":
            if default is not None:
                return default
            raise ExportError(f"the 837P needs {dotted} in the context")
        return str(node)


def _created(context: _Fields) -> datetime:
    return datetime.fromisoformat(context.raw("signature.signed_at"))


def _submitter_and_receiver(context: _Fields, sender: str, receiver: str) -> list:
    return [
        ["NM1", "41", "2", context.text("billing_provider.name"), "", "", "", "", "46", sender],
        ["PER", "IC", context.text("billing_provider.contact"), "TE", context.text("billing_provider.phone")],
        ["NM1", "40", "2", context.text("payer.name"), "", "", "", "", "46", receiver],
    ]


def _billing_provider(context: _Fields) -> list:
    return [
        ["HL", "1", "", "20", "1"],
        [
            "NM1",
            "85",
            "2",
            context.text("billing_provider.name"),
            "",
            "",
            "",
            "",
            "XX",
            context.text("billing_provider.npi"),
        ],
        *_address(context, "billing_provider.address"),
        ["REF", "EI", context.text("billing_provider.tax_id")],
    ]


def _subscriber(context: _Fields, summary: dict) -> list:
    filing = summary["payer"]["claim_filing_indicator"]
    birth = context.text("patient.birth_date").replace("-", "")
    return [
        ["HL", "2", "1", "22", "0"],
        ["SBR", "P", "18", "", "", "", "", "", "", filing],
        [
            "NM1",
            "IL",
            "1",
            context.text("patient.last_name"),
            context.text("patient.first_name"),
            "",
            "",
            "",
            "MI",
            context.text("patient.member_id"),
        ],
        *_address(context, "patient.address"),
        ["DMG", "D8", birth, context.text("patient.sex")],
        ["NM1", "PR", "2", context.text("payer.name"), "", "", "", "", "PI", context.text("payer.payer_id")],
    ]


def _claim(context: _Fields, summary: dict, claim_id: str) -> list:
    total = sum(_charge(line) for line in summary["lines"])
    renders = summary["claim_rendering"]  # 2310B; a supervisor who renders is not 2310D as well
    place = context.text("encounter.place_of_service")
    codes = [d["code"].replace(".", "") for d in summary["diagnoses"]]
    hi = ["HI"] + [("ABK" if n == 0 else "ABF") + COMPONENT + code for n, code in enumerate(codes)]
    out = [
        ["CLM", claim_id, _amount(total), "", "", f"{place}{COMPONENT}B{COMPONENT}1", "Y", "A", "Y", "Y"],
        hi,
    ]
    if context.data.get("referring"):
        out.append(_provider(context, "DN", "referring"))
    out += [
        _provider(context, "82", renders),
        ["PRV", "PE", "PXC", context.text(f"{renders}.taxonomy", PT_TAXONOMY)],
    ]
    if renders == "rendering" and context.data.get("supervising"):
        out.append(_provider(context, "DQ", "supervising"))
    return out


def _service_line(number: int, line: dict, summary: dict) -> list:
    procedure = COMPONENT.join(["HC", line["code"], *line["modifiers"]])
    pointers = COMPONENT.join(str(p) for p in line["diagnosis_pointers"])
    return [
        ["LX", str(number)],
        ["SV1", procedure, _amount(_charge(line)), "UN", str(line["units"]), "", "", pointers],
        ["DTP", "472", "D8", summary["date_of_service"].replace("-", "")],
    ]


def _charge(line: dict) -> float:
    if line["charge"] is None:
        raise ExportError(f"the 837P needs a fee for {line['code']}: add it under [fees] in the context")
    return line["charge"]


def _provider(context: _Fields, entity: str, role: str) -> list:
    """NM1 for a person in a 2310 loop: DN referring, 82 rendering, DQ supervising."""
    return ["NM1", entity, "1", *_person(context, role), "", "", "", "XX", context.text(f"{role}.npi")]


def _person(context: _Fields, role: str) -> list:
    return list(_names(context.data[role]))


def _names(person: dict) -> tuple:
    """(last, first) as the 837P writes them: last_name/first_name, else split from name."""
    last, first = person.get("last_name"), person.get("first_name")
    if not last:
        parts = _clean(str(person.get("name", ""))).split()
        first, last = " ".join(parts[:-1]), parts[-1] if parts else ""
    return _clean(str(last)), _clean(str(first or ""))


def problems(data: dict) -> list:
    """Why the context cannot be written as a valid 837P, one line per field (empty when it can): a field
    the claim needs is missing, too short or long for its element, or holds characters X12 cannot carry."""
    missing, wrong = [], []
    for dotted, lo, hi in _element_sizes(data):
        value = _lookup(data, dotted)
        if value is None or value == "":
            missing.append(dotted)
        else:
            problem = _element_problem(_clean(str(value)), lo, hi)
            if problem:
                wrong.append(f"{dotted} {problem}")
    for who in ("patient", "billing_provider"):
        state = _lookup(data, f"{who}.address.state")
        if isinstance(state, str) and state.upper() not in STATES:
            wrong.append(f"{who}.address.state {state!r}: a US state or territory code such as 'IL'")
    for role in PEOPLE:
        if isinstance(data.get(role), dict):
            last, first = _names(data[role])
            for part, text, lo, hi in (("last name", last, 1, 60), ("first name", first, 0, 35)):
                problem = _element_problem(text, lo, hi)
                if problem:
                    wrong.append(f"{role}'s {part} ({role}.name or {role}.last_name/first_name) {problem}")
    out = [f"the claim needs {', '.join(missing)} in the context"] if missing else []
    return out + [f"the 837P cannot carry {x}" for x in wrong]


def _element_sizes(data: dict) -> list:
    """(dotted field, min, max) of each context field the 837P writes, sized as its X12 element."""
    sizes = list(ELEMENT_SIZES)
    # The payer id is NM109 (2-80) and, unless x12.receiver_id is given, the receiver in GS03 (2-15).
    if _lookup(data, "x12.receiver_id"):
        sizes += [("payer.payer_id", 2, 80), ("x12.receiver_id", 2, 15)]
    else:
        sizes.append(("payer.payer_id", 2, 15))
    if _lookup(data, "x12.sender_id"):
        sizes.append(("x12.sender_id", 2, 15))
    for who in ("rendering", "billing_provider"):  # PRV03, when given (else the PT default)
        if _lookup(data, f"{who}.taxonomy") is not None:
            sizes.append((f"{who}.taxonomy", 1, 50))
    return sizes


def _element_problem(text: str, lo: int, hi: int) -> str | None:
    if not (text.isascii() and text.isprintable()):
        return f"{text!r}: only printable ASCII characters"
    if not lo <= len(text) <= hi:
        return f"{text!r}: {lo}-{hi} characters" if lo else f"{text!r}: at most {hi} characters"
    return None


def _lookup(data: dict, dotted: str):
    node = data
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _address(context: _Fields, dotted: str) -> list:
    return [
        ["N3", context.text(f"{dotted}.line")],
        [
            "N4",
            context.text(f"{dotted}.city"),
            context.text(f"{dotted}.state"),
            context.text(f"{dotted}.zip"),
        ],
    ]


def _amount(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _clean(text: str) -> str:
    """X12 basic character set: upper case, no delimiters."""
    for char in (SEGMENT, ELEMENT, COMPONENT, REPETITION):
        text = text.replace(char, " ")
    return text.upper().strip()


def _trim(segment: list) -> list:
    """Drop trailing empty elements, as X12 requires."""
    while segment and segment[-1] == "":
        segment = segment[:-1]
    return segment
