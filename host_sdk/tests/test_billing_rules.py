"""Billing rules for 97012: each rule's expected line, modifiers and units, and the refusals."""

import json
from importlib import resources

import pytest
import record_factory as factory
from traction.billing import BillingError, bill
from traction.billing.rules import RulesError
from traction.billing.rules import load as load_rules
from traction.record import verify

JULY_8_2026 = factory.UTC_START_S
JAN_6_2025 = 1_736_175_600  # 2025-01-06 15:00 UTC
JAN_5_2027 = 1_799_164_800  # 2027-01-05 16:00 UTC


def record(**fields):
    return verify(factory.session(**fields), factory.KEY)


def cervical(**fields):
    p = factory.phase(mode="STATIC", force_dn=1100, base_dn=0, duration_ms=480_000)
    return record(phases=[p], region="CERVICAL", angle_dd=240, **fields)


def billed(records=None, changes=None, drop=(), rules=None):
    return bill(records or [record()], factory.context(changes, drop), rules)


def line(result, code):
    (found,) = [x for x in result["lines"] if x["code"] == code]
    return found


def rules_of(result, key):
    return {x["rule"] for x in result[key]}


def test_example_lumbar_session_is_one_gp_unit_linked_to_both_diagnoses():
    result = billed()
    assert result["billing_ready"] and result["blocking"] == []
    traction = line(result, "97012")
    assert traction["units"] == 1 and traction["modifiers"] == ["GP"]
    assert traction["diagnosis_pointers"] == [1, 2]
    assert traction["minutes"] == 10.0 and traction["charge"] == 45.0
    assert {"97012-UNTIMED", "GP-ALWAYS-THERAPY", "MINUTES-DOCUMENTED"} <= set(traction["rules"])
    assert line(result, "97110")["modifiers"] == ["GP"] and line(result, "97110")["units"] == 2
    assert result["date_of_service"] == "2026-07-08"


def test_two_sessions_on_one_date_are_one_unit():
    result = billed([record(), cervical(record=13, utc_start_s=JULY_8_2026 + 3600)])
    traction = line(result, "97012")
    assert traction["units"] == 1
    assert traction["minutes"] == 18.0  # 10 min lumbar + 8 min cervical, still reported
    assert [x["code"] for x in result["lines"]].count("97012") == 1
    assert "1 unit for 2 session(s) (cervical, lumbar)" in " ".join(
        d["decision"] for d in result["decisions"]
    )


def test_two_lumbar_sessions_the_same_day_are_still_one_unit():
    result = billed([record(), record(record=13, utc_start_s=JULY_8_2026 + 7200)])
    assert line(result, "97012")["units"] == 1


def test_sessions_on_different_dates_are_refused():
    with pytest.raises(BillingError, match="bill each date of service separately"):
        billed([record(), record(record=13, utc_start_s=JULY_8_2026 + 86_400)])


def test_the_same_record_twice_is_refused():
    with pytest.raises(BillingError, match="given twice"):
        billed([record(), record()])


def test_date_of_service_is_the_local_date_in_the_clinic_time_zone():
    late_evening = 1_783_566_000  # 2026-07-09 03:00 UTC = 2026-07-08 22:00 in Chicago
    assert billed([record(utc_start_s=late_evening)])["date_of_service"] == "2026-07-08"
    tokyo = billed([record(utc_start_s=late_evening)], changes={"encounter.time_zone": "Asia/Tokyo"})
    assert tokyo["date_of_service"] == "2026-07-09"


def test_context_date_must_match_the_record():
    with pytest.raises(
        BillingError, match="started on 2026-07-08 in America/Chicago, but the context's date"
    ):
        billed(changes={"encounter.date_of_service": "2026-07-09"})


def test_unset_board_clock_takes_the_clinician_date_with_a_warning():
    with pytest.raises(BillingError, match="give encounter.date_of_service"):
        billed([record(utc_start_s=0)])
    result = billed([record(utc_start_s=0)], changes={"encounter.date_of_service": "2026-07-08"})
    assert result["date_of_service"] == "2026-07-08"
    assert "DOS-LOCAL-DATE" in rules_of(result, "warnings")
    assert result["documentation"]["elements"][0]["source"] == "clinician"


def test_pta_adds_cq_and_needs_a_supervising_pt():
    supervisor = {"name": "SAM PARK", "npi": "1728394655", "provider_type": "PT"}
    result = billed(changes={"rendering.provider_type": "PTA", "supervising": supervisor})
    assert line(result, "97012")["modifiers"] == ["GP", "CQ"]
    assert result["billing_ready"]
    alone = billed(changes={"rendering.provider_type": "PTA"})
    assert not alone["billing_ready"] and "PTA-SUPERVISION" in rules_of(alone, "errors")


def test_commercial_default_has_no_cq():
    supervisor = {"name": "SAM PARK", "npi": "1728394655", "provider_type": "PT"}
    result = billed(
        changes={"rendering.provider_type": "PTA", "supervising": supervisor, "payer.profile": "commercial"}
    )
    assert line(result, "97012")["modifiers"] == ["GP"]


@pytest.mark.parametrize(
    ("start", "spend", "kx", "confirm"),
    [
        (JULY_8_2026, 2480.0, True, False),  # allowed before this visit reaches 2480 (2026)
        (JULY_8_2026, 2450.0, False, True),  # 2450 + 45 + 124 in charges might cross it: confirm, no KX
        (JULY_8_2026, 2300.0, False, False),  # 2469 <= 2480
        (JAN_6_2025, 2410.0, True, False),  # 2410 reaches 2410 (2025): the threshold is effective-dated
        (JAN_6_2025, 2300.0, False, True),  # 2469 > 2410 with this visit: confirm
        (JAN_6_2025, 2200.0, False, False),  # 2369 <= 2410
    ],
)
def test_kx_from_the_allowed_amount_before_this_visit(start, spend, kx, confirm):
    result = billed([record(utc_start_s=start)], changes={"therapy_spend.year_to_date": spend})
    expected = ["GP", "KX"] if kx else ["GP"]
    assert line(result, "97012")["modifiers"] == expected
    assert line(result, "97110")["modifiers"] == expected
    warnings = [w["message"] for w in result["warnings"] if w["rule"] == "KX-THRESHOLD"]
    assert bool(warnings) is confirm
    assert all("confirm the allowed amounts and set therapy_spend.above_threshold" in w for w in warnings)
    assert ("KX-THRESHOLD" in rules_of(result, "decisions")) is not confirm
    assert result["billing_ready"]


def test_kx_when_the_context_says_above_threshold():
    result = billed(changes={"therapy_spend": {"above_threshold": True}})
    assert line(result, "97012")["modifiers"] == ["GP", "KX"]


def test_kx_undecidable_is_a_warning():
    result = billed(drop=["therapy_spend"])
    assert line(result, "97012")["modifiers"] == ["GP"]
    assert "KX-THRESHOLD" in rules_of(result, "warnings")
    next_year = billed(
        [record(utc_start_s=JAN_5_2027)],
        changes={"plan_of_care.certified_on": "2027-01-02", "plan_of_care.certified_through": "2027-03-01"},
    )
    assert any("no therapy threshold for 2027" in w["message"] for w in next_year["warnings"])


def test_commercial_profile_has_no_kx():
    result = billed(changes={"payer.profile": "commercial", "therapy_spend.year_to_date": 9000.0})
    assert line(result, "97012")["modifiers"] == ["GP"]


def test_chiropractor_to_medicare_gets_gy_with_gp_and_no_kx():
    result = billed(changes={"rendering.provider_type": "chiropractor", "therapy_spend.year_to_date": 9000.0})
    traction = line(result, "97012")
    assert traction["modifiers"] == ["GP", "GY"] and traction["statutorily_excluded"]
    assert "GY-STATUTORY-EXCLUSION" in traction["rules"]


def test_chiropractor_to_commercial_payer_has_no_gy():
    result = billed(changes={"rendering.provider_type": "chiropractor", "payer.profile": "commercial"})
    assert line(result, "97012")["modifiers"] == ["GP"]


def test_manual_therapy_same_encounter_takes_the_payer_distinct_modifier():
    services = [{"code": "97140", "units": 1, "minutes": 12}]
    medicare = billed(changes={"other_services": services})
    assert line(medicare, "97140")["modifiers"] == ["XS", "GP"]
    assert line(medicare, "97012")["modifiers"] == ["GP"]
    assert "NCCI-97140-97012" in line(medicare, "97140")["rules"]
    commercial = billed(changes={"other_services": services, "payer.profile": "commercial"})
    assert line(commercial, "97140")["modifiers"] == ["59", "GP"]


@pytest.mark.parametrize(("region", "modifier", "warned"), [
    ("thoracic", "XS", False),  # another structure: XS is true
    ("Lumbar", "59", False),  # the region under traction: distinct only by time
    (None, "XS", True),  # not said: kept, and the clinic is asked
])
def test_xs_on_97140_only_for_another_region_than_the_traction(region, modifier, warned):
    service = {"code": "97140", "units": 1, "minutes": 12} | ({"region": region} if region else {})
    result = billed(changes={"other_services": [service]})
    assert line(result, "97140")["modifiers"] == [modifier, "GP"]
    assert ("NCCI-97140-97012" in rules_of(result, "warnings")) is warned
    assert result["billing_ready"]


def test_manual_therapy_without_billed_traction_needs_no_distinct_modifier():
    services = [{"code": "97140", "units": 1}]
    result = billed(
        [record(cut_at_ms=3_000, reason="FAULT", fault="SLACK")], changes={"other_services": services}
    )
    assert line(result, "97140")["modifiers"] == ["GP"]


@pytest.mark.parametrize("code", ["97012", "S9090"])
def test_traction_listed_again_in_other_services_is_refused(code):
    result = billed(changes={"other_services": [{"code": code}]})
    assert [x["code"] for x in result["lines"]] == ["97012"]
    assert not result["billing_ready"]
    (error,) = result["errors"]
    assert error["rule"] == "97012-UNTIMED" and "comes from the device record" in error["message"]
    manual = billed(changes={"treatment.device_type": "manual", "other_services": [{"code": code}]})
    assert manual["lines"] == [] and "97012-UNTIMED" in rules_of(manual, "errors")


@pytest.mark.parametrize("code", ["G0283", "97161", "97164", "97168", "97113", "97036", "97760", "97763"])
def test_always_therapy_codes_from_the_cms_list_get_gp_and_kx(code):
    fees = {"97012": 45.0, code: 30.0}
    result = billed(
        changes={"other_services": [{"code": code, "minutes": 15}],
                 "therapy_spend": {"above_threshold": True}, "fees": fees}
    )
    assert line(result, code)["modifiers"] == ["GP", "KX"]
    assert "OTHER-CODE-UNKNOWN" not in rules_of(result, "warnings") and result["billing_ready"]


def test_97014_is_refused_for_medicare_naming_g0283():
    result = billed(changes={"other_services": [{"code": "97014"}]})
    assert [x["code"] for x in result["lines"]] == ["97012"] and not result["billing_ready"]
    (error,) = result["errors"]
    assert error["rule"] == "CODE-REPLACED" and "bill it as G0283" in error["message"]
    commercial = billed(changes={"other_services": [{"code": "97014"}], "payer.profile": "commercial"})
    assert "CODE-REPLACED" not in rules_of(commercial, "errors")


def test_an_unknown_other_code_is_carried_with_a_warning_and_no_gp():
    result = billed(changes={"other_services": [{"code": "99213"}]})
    assert line(result, "99213")["modifiers"] == []
    (warning,) = [w for w in result["warnings"] if w["rule"] == "OTHER-CODE-UNKNOWN"]
    assert "99213 is not in our therapy code list" in warning["message"]
    assert "OTHER-CODE-UNKNOWN" not in rules_of(billed(), "warnings")


def test_hot_packs_are_bundled():
    result = billed(changes={"other_services": [{"code": "97010"}]})
    assert [x["code"] for x in result["lines"]] == ["97012"]
    assert result["not_billed"][0]["what"] == "97010" and result["not_billed"][0]["rule"] == "97010-BUNDLED"


def test_decompression_to_medicare_is_not_covered():
    result = billed(changes={"treatment.device_type": "decompression", "other_services": []})
    assert result["lines"] == [] and not result["billing_ready"]
    assert result["not_billed"][0]["rule"] == "NOT-97012-DECOMPRESSION"
    assert "NCD 160.16" in result["not_billed"][0]["source"]


def test_decompression_to_commercial_is_s9090_not_97012():
    result = billed(
        changes={
            "treatment.device_type": "decompression",
            "payer.profile": "commercial",
            "other_services": [],
        }
    )
    assert [x["code"] for x in result["lines"]] == ["S9090"]
    assert line(result, "S9090")["units"] == 1
    assert result["not_billed"][0]["what"] == "97012"


@pytest.mark.parametrize(
    ("kind", "rule"),
    [("roller_table", "NOT-97012-ROLLER"), ("y_strap", "NOT-97012-YSTRAP"), ("manual", "NOT-97012-MANUAL")],
)
def test_not_mechanical_traction_gives_no_97012_line(kind, rule):
    result = billed(changes={"treatment.device_type": kind, "other_services": []})
    assert result["lines"] == [] and not result["billing_ready"]
    assert result["not_billed"] == [
        {**load_rules().cite(rule), "what": "97012", "reason": load_rules().catalogue["rules"][rule]["text"]}
    ]
    assert any("no billable line" in b for b in result["blocking"])


def test_fault_before_any_therapeutic_force_is_not_billed():
    result = billed(
        [record(cut_at_ms=3_000, reason="FAULT", fault="ADC_SILENT")], changes={"other_services": []}
    )
    assert result["lines"] == [] and not result["billing_ready"]
    (refusal,) = result["not_billed"]
    assert refusal["rule"] == "NO-THERAPEUTIC-FORCE" and refusal["what"] == "record 12"
    assert "fault ADC_SILENT" in refusal["reason"] and "before any hold" in refusal["reason"]


def test_fault_after_therapeutic_force_is_billed_with_a_warning():
    result = billed([record(cut_at_ms=200_000, reason="FAULT", fault="CABLE_SNAP")])
    assert line(result, "97012")["units"] == 1
    assert "SESSION-FAULT" in rules_of(result, "warnings")


def test_an_aborted_session_beside_a_good_one_still_gives_one_unit():
    aborted = record(
        record=13, utc_start_s=JULY_8_2026 - 3600, cut_at_ms=2_000, reason="FAULT", fault="STOP_SWITCH"
    )
    result = billed([aborted, record()])
    assert line(result, "97012")["units"] == 1 and line(result, "97012")["minutes"] == 10.0
    assert result["not_billed"][0]["what"] == "record 13"


def test_category_code_is_refused_with_its_children():
    result = billed(changes={"diagnoses": [{"code": "M51.2"}], "treatment.rationale_diagnoses": ["M51.2"]})
    assert not result["billing_ready"]
    (error,) = [e for e in result["errors"] if e["rule"] == "ICD-SPECIFICITY"]
    assert "M51.2 is a category" in error["message"] and "M51.26" in error["message"]
    assert "ICD-POINTER" in rules_of(result, "errors")


def test_deleted_low_back_pain_code_names_its_replacements():
    result = billed(
        changes={
            "diagnoses": [{"code": "M54.5"}, {"code": "M51.26"}],
            "treatment.rationale_diagnoses": ["M51.26"],
        }
    )
    (error,) = result["errors"]
    assert error["rule"] == "ICD-DELETED" and "use M54.50/M54.51/M54.59" in error["message"]
    assert line(result, "97012")["diagnosis_pointers"] == [2]
    assert not result["billing_ready"]


def test_unknown_but_well_formed_code_is_not_in_our_table():
    result = billed(
        changes={"diagnoses": [{"code": "M48.062"}], "treatment.rationale_diagnoses": ["M48.062"]}
    )
    assert result["billing_ready"]
    (warning,) = [w for w in result["warnings"] if w["rule"] == "ICD-NOT-IN-TABLE"]
    assert "not in our table" in warning["message"]
    assert result["diagnoses"][0]["status"] == "unknown"


def test_malformed_code_is_refused_and_undotted_code_is_normalised():
    bad = billed(
        changes={
            "diagnoses": [{"code": "54.16"}, {"code": "M5126"}],
            "treatment.rationale_diagnoses": ["M51.26"],
        }
    )
    assert "ICD-FORMAT" in rules_of(bad, "errors")
    assert bad["diagnoses"][1]["code"] == "M51.26" and bad["diagnoses"][1]["status"] == "billable"


def test_rationale_must_point_at_a_listed_diagnosis():
    result = billed(changes={"treatment.rationale_diagnoses": ["M54.12"]})
    assert "ICD-POINTER" in rules_of(result, "errors") and not result["billing_ready"]


@pytest.mark.parametrize(
    ("profile", "visit", "warned"),
    [("medicare", 4, False), ("medicare", 5, True), ("commercial", 4, False), ("commercial", 5, True)],
)
def test_visit_count_warnings_follow_the_payer(profile, visit, warned):
    result = billed(changes={"payer.profile": profile, "encounter.visit_number": visit})
    assert ("VISIT-COUNT" in rules_of(result, "warnings")) is warned
    assert result["billing_ready"]


def test_plan_of_care_warnings_for_medicare():
    assert "PLAN-OF-CARE" in rules_of(billed(drop=["plan_of_care"]), "warnings")
    stale = billed(
        changes={"plan_of_care": {"certified_on": "2026-03-01", "certified_through": "2026-06-30"}}
    )
    messages = [w["message"] for w in stale["warnings"] if w["rule"] == "PLAN-OF-CARE"]
    assert any("ran through 2026-06-30" in m for m in messages)
    assert any("129 days old" in m for m in messages)
    assert "PLAN-OF-CARE" not in rules_of(
        billed(changes={"payer.profile": "commercial"}, drop=["plan_of_care"]), "warnings"
    )


def test_missing_documentation_blocks_billing_ready():
    result = billed(drop=["treatment.patient_response", "signature", "treatment.patient_position"])
    docs = result["documentation"]
    assert not docs["complete"] and not result["billing_ready"]
    assert docs["missing"] == ["patient position", "patient response", "clinician signature"]
    assert (
        "documentation missing: patient position, patient response, clinician signature" in result["blocking"]
    )
    assert line(result, "97012")["units"] == 1  # the line is still worked out, just not ready


def test_traction_documentation_is_required_only_with_a_traction_line():
    aborted = record(cut_at_ms=3_000, reason="FAULT", fault="SLACK")
    result = billed([aborted], drop=["treatment.patient_position"])
    assert [x["code"] for x in result["lines"]] == ["97110"]
    assert result["billing_ready"] and result["documentation"]["missing"] == []
    elements = {e["element"]: e for e in result["documentation"]["elements"]}
    assert not elements["force"]["present"] and not elements["force"]["required"]
    assert not elements["patient position"]["required"]
    assert elements["angle of pull"]["value"] == "15 deg"  # the session's own documentation is reported
    assert elements["clinician signature"]["required"]
    with_traction = billed(drop=["treatment.patient_position"])
    assert with_traction["documentation"]["missing"] == ["patient position"]
    assert not with_traction["billing_ready"]


def test_a_billed_line_without_a_fee_blocks():
    result = billed(changes={"fees": {"97012": 45.0}})
    assert not result["billing_ready"] and line(result, "97110")["charge"] is None
    (error,) = result["errors"]
    assert error["rule"] == "FEE-REQUIRED"
    assert error["message"] == "the 97110 line needs a fee for 97110 in [fees]"
    assert error["message"] in result["blocking"]


def test_a_signature_before_the_date_of_service_blocks():
    result = billed(changes={"signature.signed_at": "2026-07-07T17:00:00-05:00"})
    assert not result["billing_ready"]
    assert result["errors"][0]["rule"] == "DOCUMENTATION"
    assert "signed on 2026-07-07, before the date of service 2026-07-08" in result["errors"][0]["message"]
    # Signed the same evening in the clinic's zone, though already the next day in UTC: fine.
    assert billed(changes={"signature.signed_at": "2026-07-08T23:30:00-05:00"})["billing_ready"]


def test_a_signature_before_the_session_ended_blocks():
    # The example session starts 04:30 in Chicago and its record ends 612 s later, at 04:40:12.
    result = billed(changes={"signature.signed_at": "2026-07-08T04:35:00-05:00"})
    assert not result["billing_ready"]
    (error,) = result["errors"]
    assert error["rule"] == "DOCUMENTATION"
    assert "before session record 12 ended at 2026-07-08T04:40:12-05:00" in error["message"]
    assert billed(changes={"signature.signed_at": "2026-07-08T04:41:00-05:00"})["billing_ready"]
    assert not billed(changes={"signature.signed_at": "2026-07-08T04:40:00"})["billing_ready"]  # clinic time
    # With two sessions, the later one's end counts.
    later = cervical(record=13, utc_start_s=JULY_8_2026 + 3600)
    two = billed([record(), later], changes={"signature.signed_at": "2026-07-08T05:00:00-05:00"})
    assert "before session record 13 ended" in two["errors"][0]["message"]


def test_rationale_without_a_linked_diagnosis_is_missing():
    result = billed(
        changes={"treatment.rationale": "Traction to reduce symptoms."},
        drop=["treatment.rationale_diagnoses"],
    )
    assert "rationale linked to diagnosis" in result["documentation"]["missing"]


def test_device_facts_are_marked_and_clinician_facts_are_marked():
    result = billed()
    sources = {e["element"]: e["source"] for e in result["documentation"]["elements"]}
    assert sources["force"] == sources["duration"] == "device record (measured)"
    assert sources["mode"] == sources["angle of pull"] == "device record (setting entered by the clinician)"
    assert sources["patient response"] == sources["device type"] == "clinician"
    assert result["clinician_context"]["source"] == "clinician (not device-measured)"
    assert result["sessions"][0]["schema"] == "traction.session/1"


def test_region_disagreement_is_warned_and_the_device_wins():
    result = billed(changes={"treatment.regions": ["cervical"]})
    assert "DEVICE-RECORD" in rules_of(result, "warnings")
    assert result["documentation"]["elements"][2]["value"] == "lumbar"


def test_angle_disagreement_is_warned_and_the_device_wins():
    assert "DEVICE-RECORD" not in rules_of(billed(changes={"treatment.angle_deg": 15}), "warnings")
    result = billed(changes={"treatment.angle_deg": 25})
    (warning,) = result["warnings"]
    assert warning["rule"] == "DEVICE-RECORD" and "device recorded 15 deg" in warning["message"]
    assert result["documentation"]["elements"][5]["value"] == "15 deg"


def test_every_decision_names_its_rule_and_source():
    result = billed(
        [
            record(),
            cervical(record=14, utc_start_s=JULY_8_2026 + 60, cut_at_ms=1000, reason="FAULT", fault="SLACK"),
        ],
        changes={"other_services": [{"code": "97140"}, {"code": "97010"}], "encounter.visit_number": 20},
    )
    catalogue = load_rules().catalogue["rules"]
    for key in ("decisions", "warnings", "errors", "not_billed"):
        for item in result[key]:
            assert catalogue[item["rule"]]["source"] == item["source"]
    assert len(result["not_billed"]) == 2 and result["warnings"]
    assert json.loads(json.dumps(result)) == result


def test_a_clinic_payer_profile_from_its_own_folder(tmp_path):
    profile = json.loads(
        (resources.files("traction.billing") / "rules" / "payer_commercial.json").read_text()
    )
    profile.update(id="acme", name="ACME HEALTH")
    profile["versions"][0].update(distinct_procedure_modifier="XU", visit_warning_after=2)
    (tmp_path / "payer_acme.json").write_text(json.dumps(profile))
    rules = load_rules([tmp_path])
    result = billed(changes={"payer.profile": "acme", "other_services": [{"code": "97140"}]}, rules=rules)
    assert line(result, "97140")["modifiers"] == ["XU", "GP"]
    assert "VISIT-COUNT" in rules_of(result, "warnings")
    assert result["payer"]["name"] == "ACME HEALTH"


def test_unknown_payer_and_payer_without_a_version_in_effect(tmp_path):
    with pytest.raises(RulesError, match="no payer profile 'blue'"):
        billed(changes={"payer.profile": "blue"})
    profile = {
        "id": "old",
        "name": "OLD",
        "claim_filing_indicator": "CI",
        "versions": [{**load_rules().profiles["commercial"]["versions"][0], "until": "2025-12-31"}],
    }
    (tmp_path / "payer_old.json").write_text(json.dumps(profile))
    with pytest.raises(RulesError, match="no version in effect on 2026-07-08"):
        billed(changes={"payer.profile": "old"}, rules=load_rules([tmp_path]))


def test_a_missing_rules_folder_is_named(tmp_path):
    with pytest.raises(RulesError, match="rules folder .*nowhere does not exist"):
        load_rules([tmp_path / "nowhere"])


def test_a_broken_payer_profile_is_named(tmp_path):
    (tmp_path / "payer_bad.json").write_text(
        '{"id": "bad", "name": "x", "claim_filing_indicator": "CI", "versions": [{"from": "2025-01-01"}]}'
    )
    with pytest.raises(RulesError, match="payer_bad.json: version 0 lacks 'until'"):
        load_rules([tmp_path])
