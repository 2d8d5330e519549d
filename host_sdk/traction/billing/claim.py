"""Billing decisions for one date of service: the claim lines, what is not billed and why, warnings.

Every decision carries the rule id and source from rules/rules.json; payer-specific choices come from the
payer profile in effect on the date of service. Device facts come from verified records only.
"""

from datetime import date, datetime

from traction.billing import documentation, icd10, x12
from traction.billing.rules import RuleBook, in_effect
from traction.billing.rules import load as load_rules
from traction.errors import TractionError
from traction.summary import summarize

SCHEMA = "traction.billing/1"
TRACTION = "97012"
MANUAL_THERAPY = "97140"
# Traction codes come from the device record; listed again under other_services they would double-bill.
FROM_DEVICE_RECORD = (TRACTION, "S9090")
NOT_TRACTION_RULES = {
    "roller_table": "NOT-97012-ROLLER",
    "y_strap": "NOT-97012-YSTRAP",
    "manual": "NOT-97012-MANUAL",
}
MAX_POINTERS = 4
TELEHEALTH_FORBIDDEN = FROM_DEVICE_RECORD  # supervised, in-person modalities on the device


class BillingError(TractionError):
    """Records and context that cannot be billed together (wrong date, duplicates, no records)."""


class _Decisions:
    """Collects decisions, warnings, errors and refusals, each with its rule's id and source."""

    def __init__(self, rules: RuleBook):
        self.rules = rules
        self.decisions, self.warnings, self.errors, self.not_billed = [], [], [], []

    def decide(self, rule: str, text: str) -> str:
        self.decisions.append({**self.rules.cite(rule), "decision": text})
        return rule

    def warn(self, rule: str, text: str) -> None:
        self.warnings.append({**self.rules.cite(rule), "message": text})

    def error(self, rule: str, text: str) -> None:
        self.errors.append({**self.rules.cite(rule), "message": text})

    def refuse(self, rule: str, what: str, why: str) -> None:
        self.not_billed.append({**self.rules.cite(rule), "what": what, "reason": why})


def bill(records, context, rules: RuleBook | None = None, prior_claims=(), today: date | None = None) -> dict:
    """The billing summary (schema traction.billing/1) for verified records of one date of service.

    prior_claims: claims already billed for this patient (traction.billing.ledger rows), so that 97012 stays
    one unit per date of service across claims; today: the clinic's date (default: now in its time zone)."""
    records = list(records)
    if not records:
        raise BillingError("no session record to bill")
    _check_distinct(records)
    rules = rules or load_rules()
    d = _Decisions(rules)
    d.decide(
        "DEVICE-RECORD",
        f"{len(records)} verified record(s): " + ", ".join(f"{r.serial} #{r.record_id}" for r in records),
    )
    sessions = [summarize(r) for r in records]
    dos = _date_of_service(records, context, d)
    _not_future(dos, context, today, d)
    profile = rules.profile(context.payer_profile, dos)
    diagnoses = _diagnoses(context, dos, d)
    pointers = _pointers(context, diagnoses, d)
    lines = _lines(sessions, context, profile, pointers, d)
    _kx(lines, context, profile, dos, d)
    _fees(lines, d)
    if lines:
        _place_of_service(lines, context, d)
        _referring(context, profile, d)
        _claim_data(context, d)
        _one_per_day(lines, records, prior_claims, dos, d)
    _visits(context, profile, d)
    _plan_of_care(context, profile, dos, d)
    _signature_time(context, records, dos, d)
    claim_rendering = _claim_rendering(context, profile, d) if lines else "rendering"
    traction_billed = any(x["code"] in FROM_DEVICE_RECORD for x in lines)
    times = treatment_times(lines, rules)
    if lines:
        d.decide("TOTAL-TIME", f"total treatment time {_minutes(times['total_min'])}, timed-code minutes "
                 f"{_minutes(times['timed_min'])}")
    docs = documentation.check(sessions, context, diagnoses, dos, times, traction_billed)
    ready = bool(lines) and not d.errors and docs["complete"]
    return {
        "schema": SCHEMA,
        "billing_ready": ready,
        "blocking": _blocking(lines, d, docs),
        "date_of_service": dos.isoformat(),
        "payer": {
            "profile": profile["id"],
            "name": profile["name"],
            "profile_version_from": profile["from"],
            "claim_filing_indicator": profile["claim_filing_indicator"],
        },
        "provider_type": context.provider_type,
        "claim_rendering": claim_rendering,
        "furnished_by": {k: context.get(f"rendering.{k}") for k in ("name", "npi", "provider_type")},
        "place_of_service": _place(context, rules),
        "treatment_times": times,
        "lines": lines,
        "not_billed": d.not_billed,
        "diagnoses": diagnoses,
        "decisions": d.decisions,
        "warnings": d.warnings,
        "errors": d.errors,
        "documentation": docs,
        "sessions": sessions,
        "clinician_context": {
            "source": "clinician (not device-measured)",
            "file": context.name,
            "data": context.data,
        },
    }


def _lines(sessions, context, profile, pointers, d: _Decisions) -> list:
    traction = _traction_line(sessions, context, profile, pointers, d)
    traction_regions = {x["region"] for x in sessions} if traction and traction["code"] == TRACTION else set()
    others = _other_lines(context, profile, pointers, traction_regions, d)
    return ([traction] if traction else []) + others


def treatment_times(lines: list, rules: RuleBook) -> dict:
    """Total treatment time and total timed-code minutes (Pub. 100-02 ch.15 s220.3), each None when a line
    it sums has no minutes; `lines`: each line's code, minutes and whether its code is timed."""
    each = [{"code": x["code"], "minutes": x["minutes"], "timed": rules.is_timed(x["code"])} for x in lines]

    def total(chosen):
        known = [x["minutes"] for x in chosen]
        return None if None in known or not known else round(sum(known), 1)

    return {
        "total_min": total(each),
        "timed_min": total([x for x in each if x["timed"]]) if any(x["timed"] for x in each) else 0,
        "lines": each,
        "traction_only": all(x["code"] in FROM_DEVICE_RECORD for x in lines),
    }


def _minutes(value) -> str:
    return "not known (a line has no minutes)" if value is None else f"{value:g} min"


def _place(context, rules: RuleBook) -> dict | None:
    code = context.place_of_service
    if code is None:
        return None
    place = rules.place_of_service(code)
    return {"code": code, "name": place["name"] if place else None}


def _not_future(dos: date, context, today: date | None, d: _Decisions) -> None:
    today = today or datetime.now(context.time_zone).date()
    if dos > today:
        d.error("DOS-NOT-FUTURE", f"the date of service {dos} is after today ({today} in "
                f"{context.time_zone.key}): a service is billed once it is furnished")


def _place_of_service(lines: list, context, d: _Decisions) -> None:
    code = context.place_of_service
    if code is None:
        d.error("POS-REQUIRED", 'encounter.place_of_service is required (e.g. "11" office); never assumed')
        return
    place = d.rules.place_of_service(code)
    if place is None:
        d.error("POS-VALID", f"place of service {code!r} is not in the CMS place-of-service code set")
        return
    edit = place.get("edit")
    traction = [x["code"] for x in lines if x["code"] in TELEHEALTH_FORBIDDEN]
    if edit == "telehealth" and traction:
        d.error("POS-IN-PERSON", f"place of service {code} ({place['name']}) is telehealth: {traction[0]} is "
                "furnished in person with the device and is not a telehealth service")
    elif edit == "facility":
        d.warn("POS-PROFESSIONAL", f"place of service {code} ({place['name']}): therapy there is normally "
               "billed by the facility on an institutional claim (837I), not on this professional claim")
    else:
        d.decide("POS-VALID", f"place of service {code} ({place['name']})")


def _referring(context, profile, d: _Decisions) -> None:
    if context.get("referring") is not None:
        d.decide("REFERRING-PROVIDER", f"referring (certifying) provider {context.get('referring.name')} "
                 f"NPI {context.get('referring.npi')}")
    elif profile.get("referring_provider_required"):
        d.error("REFERRING-PROVIDER", f"{profile['name']} requires the physician/NPP who certified the plan "
                "of care as the referring provider: add [referring] with name and npi")


def _claim_data(context, d: _Decisions) -> None:
    for problem in x12.problems(context.data):
        d.error("CLAIM-DATA", problem)


def _one_per_day(lines: list, records, prior_claims, dos: date, d: _Decisions) -> None:
    """97012 is one unit per date of service across claims, not only within this one."""
    if not any(x["code"] == TRACTION for x in lines):
        return
    these = sorted(record_key(r) for r in records)
    for prior in prior_claims:
        if prior["date_of_service"] != dos.isoformat() or TRACTION not in prior["codes"]:
            continue
        if sorted(prior["records"]) == these:
            d.decide("97012-ONE-PER-DAY", f"claim {prior['claim_id']} already holds these records: the same "
                     "claim again, not a second unit")
            continue
        d.error("97012-ONE-PER-DAY", f"97012 was already billed for this patient on {dos} (claim "
                f"{prior['claim_id']}, records {', '.join(prior['records'])}): one unit per date of service; "
                "bill all of the day's sessions on one claim (a corrected claim replaces the first)")


def record_key(record) -> str:
    """How a record is named in claims and the ledger: serial#record id."""
    return f"{record.serial}#{record.record_id}"


def _check_distinct(records) -> None:
    seen = set()
    for r in records:
        key = (r.serial, r.record_id)
        if key in seen:
            raise BillingError(f"record {r.record_id} from {r.serial} is given twice")
        seen.add(key)


def _date_of_service(records, context, d: _Decisions):
    tz = context.time_zone
    given = context.date_of_service
    dates = set()
    for r in records:
        if r.utc_start is None:
            if given is None:
                raise BillingError(
                    f"record {r.record_id} has no start time (the board's clock was never set): "
                    "give encounter.date_of_service in the context"
                )
            d.warn(
                "DOS-LOCAL-DATE",
                f"record {r.record_id} has no start time; the date of service is the clinician's",
            )
            dates.add(given)
            continue
        local = r.utc_start.astimezone(tz).date()
        if given is not None and local != given:
            raise BillingError(
                f"record {r.record_id} started on {local} in {tz.key}, but the context's date of "
                f"service is {given}"
            )
        dates.add(local)
    if len(dates) > 1:
        raise BillingError(
            "the records span dates "
            + ", ".join(sorted(x.isoformat() for x in dates))
            + ": bill each date of service separately"
        )
    dos = dates.pop()
    d.decide("DOS-LOCAL-DATE", f"date of service {dos} ({tz.key})")
    return dos


def _diagnoses(context, dos, d: _Decisions) -> list:
    out = []
    for sequence, code in enumerate(context.diagnoses, start=1):
        result = icd10.check(code, dos)
        out.append({"sequence": sequence, **{k: result[k] for k in ("code", "title", "status", "problem")}})
        if result["status"] == "invalid":
            d.error(result["rule"], result["problem"])
        elif result["status"] == "unknown":
            d.warn(result["rule"], result["problem"])
    return out


def _pointers(context, diagnoses: list, d: _Decisions) -> list:
    """1-based positions of the diagnoses the traction line is linked to (rationale first, else all)."""
    by_code = {x["code"]: x for x in diagnoses}
    wanted = [icd10.normalize(c) for c in context.get("treatment.rationale_diagnoses") or []]
    for code in wanted:
        if code not in by_code:
            d.error("ICD-POINTER", f"rationale diagnosis {code} is not among the claim's diagnoses")
    chosen = [by_code[c] for c in wanted if c in by_code] if wanted else diagnoses
    usable = [x["sequence"] for x in chosen if x["status"] != "invalid"]
    if len(usable) > MAX_POINTERS:
        d.warn("ICD-POINTER", f"{len(usable)} diagnoses are linked but a line points to at most "
               f"{MAX_POINTERS}: the first {MAX_POINTERS} are used; list the most relevant first")
        usable = usable[:MAX_POINTERS]
    if not usable:
        d.error("ICD-POINTER", "no valid diagnosis is linked to the service lines")
    else:
        d.decide("ICD-POINTER", "lines point to diagnoses " + ", ".join(map(str, usable)))
    return usable


def _traction_line(sessions, context, profile, pointers, d: _Decisions):
    kind = context.device_type
    if kind == "decompression":
        return _decompression(sessions, context, profile, pointers, d)
    if kind != "mechanical":
        rule = NOT_TRACTION_RULES[kind]
        d.refuse(rule, TRACTION, d.rules.catalogue["rules"][rule]["text"])
        return None
    d.decide("97012-MECHANICAL", f"device type: {context.get('treatment.device_description') or kind}")
    delivered = _delivered(sessions, d)
    if not delivered:
        return None
    regions = sorted({s["region"] for s in delivered})
    _check_regions(context, regions, d)
    _check_angle(context, delivered, d)
    minutes = round(sum(s["treatment_s"] for s in delivered) / 60, 1)
    rules = [
        d.decide(
            "97012-UNTIMED",
            f"1 unit for {len(delivered)} session(s) ({', '.join(regions)}) on one date of service",
        ),
        d.decide("MINUTES-DOCUMENTED", f"{minutes:g} min of treatment reported, units unchanged"),
    ]
    line = {
        "code": TRACTION,
        "description": "Mechanical traction, 1 or more areas",
        "units": 1,
        "minutes": minutes,
        "modifiers": [],
        "diagnosis_pointers": pointers,
        "charge": context.fee(TRACTION),
        "statutorily_excluded": False,
        "rules": rules,
    }
    _therapy_modifiers(line, context, profile, d)
    return line


def _decompression(sessions, context, profile, pointers, d: _Decisions):
    setting = profile["decompression"]
    if setting["action"] != "code":
        d.refuse(
            "NOT-97012-DECOMPRESSION",
            TRACTION,
            f"decompression is not 97012 and {profile['name']} does not cover it",
        )
        return None
    code = setting["code"]
    delivered = _delivered(sessions, d)
    if not delivered:
        return None
    d.refuse(
        "NOT-97012-DECOMPRESSION", TRACTION, f"decompression is not 97012; {profile['name']} takes {code}"
    )
    rule = d.decide("NOT-97012-DECOMPRESSION", f"{code} x {len(delivered)} (per session)")
    return {
        "code": code,
        "description": "Vertebral axial decompression, per session",
        "units": len(delivered),
        "minutes": round(sum(s["treatment_s"] for s in delivered) / 60, 1),
        "modifiers": [],
        "diagnosis_pointers": pointers,
        "charge": _charge(context, code, len(delivered)),
        "statutorily_excluded": False,
        "rules": [rule],
    }


def _delivered(sessions, d: _Decisions) -> list:
    """Sessions that reached a hold or step at therapeutic force; the others are refused with the reason."""
    delivered = []
    for s in sessions:
        if s["hold_s"] > 0:
            delivered.append(s)
            if s["end"]["reason"] == "FAULT":
                d.warn(
                    "SESSION-FAULT",
                    f"record {s['record']['id']} ended by fault {s['end']['fault']} after "
                    f"{s['treatment_s'] / 60:.1f} min; explain the interruption in the note",
                )
            continue
        end = s["end"]
        cause = f"fault {end['fault']}" if end["fault"] else end["reason"].lower()
        d.refuse(
            "NO-THERAPEUTIC-FORCE",
            f"record {s['record']['id']}",
            f"ended ({cause}) after {s['treatment_s']:g} s before any hold at therapeutic force "
            f"(peak {s['peak_n']:g} N): no traction treatment was delivered",
        )
    return delivered


def _check_angle(context, sessions: list, d: _Decisions) -> None:
    stated = context.get("treatment.angle_deg")
    recorded = sorted({s["angle_deg"] for s in sessions if s["angle_deg"] is not None})
    # Half a degree: the record keeps tenths, a clinician writes whole degrees.
    if stated is not None and any(abs(angle - stated) > 0.5 for angle in recorded):
        d.warn(
            "DEVICE-RECORD",
            f"the context gives an angle of {stated:g} deg but the device recorded "
            f"{', '.join(f'{a:g}' for a in recorded)} deg; the device record is used",
        )


def _check_regions(context, device_regions: list, d: _Decisions) -> None:
    stated = context.get("treatment.regions")
    if stated and sorted(set(stated)) != device_regions:
        d.warn(
            "DEVICE-RECORD",
            f"the context lists {', '.join(stated)} but the device recorded "
            f"{', '.join(device_regions)}; the device record is used",
        )


def _therapy_modifiers(line: dict, context, profile, d: _Decisions) -> None:
    who = context.provider_type
    if d.rules.is_always_therapy(line["code"]):
        line["modifiers"].append(profile["therapy_modifier"])
        line["rules"].append(
            d.decide("GP-ALWAYS-THERAPY", f"{profile['therapy_modifier']} on {line['code']}")
        )
    assistant = profile["assistant_modifiers"].get(who)
    if assistant:
        line["modifiers"].append(assistant)
        line["rules"].append(d.decide("CQ-PTA", f"{assistant} on {line['code']}: furnished by a {who}"))
    if who == "PTA" and context.get("supervising.provider_type") != "PT":
        d.error("PTA-SUPERVISION", "a PTA furnished the service: name the supervising PT in [supervising]")
    excluded = profile["excluded_providers"].get(who)
    if excluded:
        line["modifiers"].append(excluded["modifier"])
        line["statutorily_excluded"] = True
        line["rules"].append(
            d.decide(
                "GY-STATUTORY-EXCLUSION",
                f"{excluded['modifier']} on {line['code']}: "
                f"{profile['name']} excludes it when furnished by a {who}",
            )
        )


def _other_lines(context, profile, pointers, traction_regions: set, d: _Decisions) -> list:
    """The clinician's other services; traction_regions: the regions of a billed 97012 (empty if none)."""
    lines = []
    for service in context.other_services:
        code = service["code"]
        if code in FROM_DEVICE_RECORD:
            d.error(
                "97012-UNTIMED",
                f"other_services lists {code}: the traction line comes from the device record, not "
                "from other_services (97012 is 1 unit per date of service, MUE 1); remove it there",
            )
            continue
        if d.rules.is_bundled(code):
            d.refuse("97010-BUNDLED", code, "bundled into the other services; never paid separately")
            continue
        replacement = profile.get("replaced_codes", {}).get(code)
        if replacement:
            d.error("CODE-REPLACED", f"{code} is not valid for {profile['name']}: bill it as {replacement}")
            continue
        if not d.rules.is_always_therapy(code):
            d.warn(
                "OTHER-CODE-UNKNOWN",
                f"{code} is not in our therapy code list: no GP or KX added; "
                "verify the code and its modifiers in your coding software",
            )
        rule = d.decide("OTHER-CODE", f"{code} x {service.get('units', 1)} as listed by the clinician")
        line = {
            "code": code,
            "description": service.get("description"),
            "units": service.get("units", 1),
            "minutes": service.get("minutes"),
            "modifiers": [],
            "diagnosis_pointers": pointers,
            "charge": _charge(context, code, service.get("units", 1)),
            "statutorily_excluded": False,
            "rules": [rule],
        }
        if code == MANUAL_THERAPY and traction_regions:
            line["modifiers"].append(_distinct_modifier(service, profile, traction_regions, line, d))
        _therapy_modifiers(line, context, profile, d)
        lines.append(line)
    return lines


def _distinct_modifier(service, profile, traction_regions: set, line: dict, d: _Decisions) -> str:
    """59 or XS on 97140 beside 97012. XS says "a separate structure": not true of manual therapy on the
    region that was under traction, which is distinct only by its separate time (59)."""
    modifier = profile["distinct_procedure_modifier"]
    region = (service.get("region") or "").lower()
    why = "manual therapy is a distinct service from the mechanical traction billed the same encounter"
    if modifier == "XS" and region in traction_regions:
        modifier = "59"
        why = (f"97140 on the {region} region, the region under traction: XS (separate structure) would "
               "not be true; 59 for a service distinct by its separate time")
    elif modifier == "XS" and not region:
        d.warn("NCCI-97140-97012", "XS on 97140 says it treated another region than the traction: give "
               "other_services.region, and if it was the same region the line takes 59")
    line["rules"].append(d.decide("NCCI-97140-97012", f"{modifier} on 97140: {why}"))
    return modifier


def _claim_rendering(context, profile, d: _Decisions) -> str:
    """Whose NPI renders the claim: the clinician who furnished it, or for a payer that does not enroll
    assistants, the supervising PT ("rendering" or "supervising", the context's roles)."""
    if (context.provider_type == "PTA" and profile.get("assistant_billed_under_supervisor")
            and context.get("supervising.provider_type") == "PT"):
        d.decide("PTA-RENDERING", f"{profile['name']} does not enroll PT assistants: the supervising PT "
                 f"{context.get('supervising.name')} renders the claim; CQ says a PTA furnished it")
        return "supervising"
    return "rendering"


def _charge(context, code: str, units: int):
    fee = context.fee(code)
    return None if fee is None else round(fee * units, 2)


def _kx(lines: list, context, profile, dos, d: _Decisions) -> None:
    therapy = [x for x in lines if d.rules.is_always_therapy(x["code"]) and not x["statutorily_excluded"]]
    if not therapy or not profile["kx_thresholds"]:
        return
    spend = context.get("therapy_spend", {})
    threshold = in_effect(profile["kx_thresholds"], dos)
    if spend.get("above_threshold") is True:
        reason = "the context says the patient is above this year's therapy threshold"
    elif threshold is None:
        d.warn(
            "KX-THRESHOLD",
            f"no therapy threshold for {dos.year} in the {profile['id']} profile: update "
            "the rules or set therapy_spend.above_threshold",
        )
        return
    elif "year_to_date" in spend:
        so_far, amount = spend["year_to_date"], threshold["amount"]
        if so_far < amount:
            with_visit = so_far + sum(x["charge"] or 0 for x in therapy)
            if with_visit > amount:
                d.warn(
                    "KX-THRESHOLD",
                    f"no KX: ${so_far:,.2f} allowed so far is below the ${amount:,} threshold for "
                    f"{dos.year}, but with this visit's charges (${with_visit:,.2f}) it may cross it: "
                    "confirm the allowed amounts and set therapy_spend.above_threshold = true if it does",
                )
            else:
                d.decide(
                    "KX-THRESHOLD",
                    f"no KX: ${with_visit:,.2f} with this visit's charges is within the ${amount:,}"
                    f" threshold for {dos.year}",
                )
            return
        reason = f"${so_far:,.2f} allowed before this visit reaches the ${amount:,} threshold for {dos.year}"
    else:
        d.warn(
            "KX-THRESHOLD",
            "the patient's year-to-date therapy spend is not given: KX cannot be decided "
            "(set therapy_spend.year_to_date or above_threshold)",
        )
        return
    for line in therapy:
        line["modifiers"].append("KX")
        line["rules"].append(d.decide("KX-THRESHOLD", f"KX on {line['code']}: {reason}"))


def _fees(lines: list, d: _Decisions) -> None:
    for line in lines:
        if line["charge"] is None:
            d.error("FEE-REQUIRED", f"the {line['code']} line needs a fee for {line['code']} in [fees]")


def _visits(context, profile, d: _Decisions) -> None:
    limit = profile["visit_warning_after"]
    visit = context.get("encounter.visit_number")
    if limit is None:
        return
    if visit is None:
        d.warn(
            "VISIT-COUNT",
            f"visit number not given; {profile['name']} expects justification after {limit} traction visits",
        )
    elif visit > limit:
        d.warn(
            "VISIT-COUNT",
            f"traction visit {visit} is beyond {limit} for {profile['name']}: document why "
            "in-clinic traction continues (or teach home traction)",
        )


def _plan_of_care(context, profile, dos, d: _Decisions) -> None:
    setting = profile["plan_of_care"]
    if not setting["required"]:
        return
    certified = context.get("plan_of_care.certified_on")
    through = context.get("plan_of_care.certified_through")
    if not certified:
        d.warn("PLAN-OF-CARE", f"{profile['name']} requires a certified plan of care; none is given")
        return
    certified = date.fromisoformat(certified)
    if dos < certified:
        d.warn("PLAN-OF-CARE", f"the plan of care was certified on {certified}, after the date of service")
    days = setting["recertify_days"]
    if through:
        through = date.fromisoformat(through)
        if dos > through:
            d.warn("PLAN-OF-CARE", f"the plan of care ran through {through}: recertify it")
    if days and (dos - certified).days > days:
        d.warn(
            "PLAN-OF-CARE",
            f"the plan of care is {(dos - certified).days} days old; recertify at least every {days} days",
        )


def _signature_time(context, records, dos, d: _Decisions) -> None:
    """A note signed before the date of service, or before the last session's end, does not cover it."""
    signed_at = context.get("signature.signed_at")
    if not signed_at:
        return
    moment = datetime.fromisoformat(signed_at)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=context.time_zone)
    signed = moment.astimezone(context.time_zone)
    if signed.date() < dos:
        d.error(
            "DOCUMENTATION",
            f"the note was signed on {signed.date()}, before the date of service {dos}: "
            "the signature does not cover this session",
        )
        return
    ends = [(r.utc_end, r.record_id) for r in records if r.utc_end is not None]
    if not ends:
        return
    ended, record_id = max(ends)
    if moment < ended:
        local = ended.astimezone(context.time_zone)
        d.error(
            "DOCUMENTATION",
            f"the note was signed at {signed.isoformat(timespec='minutes')}, before session record "
            f"{record_id} ended at {local.isoformat(timespec='seconds')}: the signature does not cover it",
        )


def _blocking(lines: list, d: _Decisions, docs: dict) -> list:
    """Why the summary is not billing-ready, one line each (empty when it is)."""
    out = [e["message"] for e in d.errors]
    if not lines:
        out.append("no billable line: " + "; ".join(f"{x['what']}: {x['reason']}" for x in d.not_billed))
    if docs["missing"]:
        out.append("documentation missing: " + ", ".join(docs["missing"]))
    return out
