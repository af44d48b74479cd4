"""Documented codes of the UCI Heart categorical columns, and the mapping of raw cell text onto them.

Contract C1 (helpers' CONTRACTS.md): category_value(column, text) -> (value, kind).
Pure, no I/O; called once per distinct spelling.

STUB: reproduces heart_features.canonical_category (every non-empty spelling is kept as its canonical
string); the documented-code mapping replaces it shortly with the same signature.
"""
from __future__ import annotations

import math

import numpy as np

DOCUMENTED = "documented"
MAPPED = "mapped"
UNSEEN = "unseen"
MISSING = "missing"


def _canonical(text: str):
    value = text.strip()
    if value == "":
        return np.nan
    try:
        number = float(value)
    except ValueError:
        return value.lower()
    if math.isfinite(number) and number == int(number):
        return str(int(number))
    return repr(number)


def category_value(column: str, text: str) -> tuple[object, str]:
    value = _canonical(text)
    if isinstance(value, float):
        return value, MISSING
    return value, DOCUMENTED
