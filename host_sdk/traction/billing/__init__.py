"""Billing-ready summaries for CPT 97012 from verified session records and the clinic's context.

    from traction.billing import bill, load_context
    summary = bill([record], load_context("context.toml"))

Exports: traction.billing.fhir, .x12, .csv_line, .note; the CLI is traction.billing.cli; demo_outputs()
writes them all for `traction demo`.
"""

from traction.billing.claim import SCHEMA, BillingError, bill
from traction.billing.context import Context, ContextError
from traction.billing.context import load as load_context
from traction.billing.demo import demo_outputs

__all__ = ["SCHEMA", "BillingError", "Context", "ContextError", "bill", "demo_outputs", "load_context"]
