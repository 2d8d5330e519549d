"""Billing-ready summaries for CPT 97012 from verified session records and the clinic's context.

    from traction.billing import bill, load_context
    summary = bill([record], load_context("context.toml"))

Exports: traction.billing.fhir, .x12, .csv_line, .note; the CLI is traction.billing.cli; demo_outputs()
writes them all for `traction demo`.
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on first use (below), so `traction --help` does not load billing
    from traction.billing.claim import SCHEMA, BillingError, bill
    from traction.billing.context import Context, ContextError
    from traction.billing.context import load as load_context
    from traction.billing.demo import demo_outputs

_WHERE = {"SCHEMA": ("claim", "SCHEMA"), "BillingError": ("claim", "BillingError"), "bill": ("claim", "bill"),
          "Context": ("context", "Context"), "ContextError": ("context", "ContextError"),
          "load_context": ("context", "load"), "demo_outputs": ("demo", "demo_outputs")}

__all__ = ["SCHEMA", "BillingError", "Context", "ContextError", "bill", "demo_outputs", "load_context"]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'traction.billing' has no attribute {name!r}")
    module, attr = _WHERE[name]
    return getattr(importlib.import_module(f"traction.billing.{module}"), attr)
