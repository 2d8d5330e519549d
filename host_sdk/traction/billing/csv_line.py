"""CSV for practice-management import: one row per billing line, with a header row."""

import csv
import io

COLUMNS = (
    "date_of_service",
    "patient_reference",
    "cpt",
    "modifiers",
    "units",
    "minutes",
    "diagnosis_pointers",
    "diagnoses",
    "charge",
    "rendering_npi",
    "furnished_by_npi",
    "furnished_by_type",
    "supervising_npi",
    "billing_npi",
    "payer",
    "billing_ready",
    "device_records",
)


def rows(summary: dict) -> list:
    """One dict per claim line, keyed by COLUMNS."""
    context = summary["clinician_context"]["data"]
    diagnoses = {d["sequence"]: d["code"] for d in summary["diagnoses"]}
    records = " ".join(f"{s['device']['serial']}#{s['record']['id']}" for s in summary["sessions"])
    out = []
    for line in summary["lines"]:
        out.append(
            {
                "date_of_service": summary["date_of_service"],
                "patient_reference": context.get("patient", {}).get("reference", ""),
                "cpt": line["code"],
                "modifiers": " ".join(line["modifiers"]),
                "units": line["units"],
                "minutes": "" if line["minutes"] is None else f"{line['minutes']:g}",
                "diagnosis_pointers": " ".join(str(p) for p in line["diagnosis_pointers"]),
                "diagnoses": " ".join(diagnoses[p] for p in line["diagnosis_pointers"]),
                "charge": "" if line["charge"] is None else f"{line['charge']:.2f}",
                "rendering_npi": context[summary["claim_rendering"]]["npi"],  # as on the claim
                # who furnished it (a PTA billed under the supervising PT is still named here)
                "furnished_by_npi": context["rendering"]["npi"],
                "furnished_by_type": context["rendering"]["provider_type"],
                "supervising_npi": context.get("supervising", {}).get("npi", ""),
                "billing_npi": context.get("billing_provider", {}).get("npi", ""),
                "payer": summary["payer"]["profile"],
                "billing_ready": "yes" if summary["billing_ready"] else "no",
                "device_records": records,
            }
        )
    return out


def text(summary: dict) -> str:
    """The claim lines as CSV with a header row."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(summary))
    return buffer.getvalue()
