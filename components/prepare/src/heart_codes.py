"""The documented codes of the UCI Heart categorical columns, and how raw cell text maps onto them.

Contract C1: category_value(column, text) -> (value, kind). Pure, no I/O, called once per distinct
spelling. Training (models/train.py) and the prepare step both use it, so the fitted transformer
only ever sees documented codes and scoring turns every other value into the same ones or into
missing.

Documented codes (UCI Heart Disease, processed Cleveland data, as this project's data spell them):
  sex 0/1, cp 1-4 (1 typical angina, 2 atypical angina, 3 non-anginal pain, 4 asymptomatic),
  fbs 0/1, restecg 0-2, exang 0/1, slope 1-3 (1 upsloping, 2 flat, 3 downsloping),
  thal normal / fixed / reversible (the UCI file writes them as 3 / 6 / 7).

A spelling is the same code when it only differs in blanks, letter case or number format
("4", " 4 ", "4.0" are documented code 4; "Normal" is "normal").

Mapped with certainty (kind "mapped"):
  - thal 6 -> fixed, 7 -> reversible, "fixed defect" -> fixed, "reversable defect" /
    "reversible defect" -> reversible: the UCI documentation's own numbers and names.
  - cp 0 -> 4, thal 1 -> fixed, thal 2 -> normal: the other coding found in data/train
    (cp numbered 0-3, thal 1-3). Every patient of data/train written both ways proves these
    pairs and none contradicts them (models/train.py checks it on each training run and
    refuses to train on contradicting evidence).
Not mappable (kind "unseen", scored as missing):
  - thal 3: the UCI number for normal, but "reversible" in the other coding (1-3), and the
    training duplicates show that coding in use; a cell alone cannot tell which is meant.
  - cp 1-3 and every other column's codes are documented as they are; the other coding
    reuses them with other meanings (its cp 1 is atypical angina, UCI's 2), which no single
    cell can reveal, so they are taken as documented.
  - anything else outside the documented codes (cp 5, slope 0, thal 0, "abnormal", ...).
"""
from __future__ import annotations

import math

import numpy as np

DOCUMENTED = "documented"
MAPPED = "mapped"
UNSEEN = "unseen"
MISSING = "missing"

CODES: dict[str, tuple[str, ...]] = {
    "sex": ("0", "1"),
    "cp": ("1", "2", "3", "4"),
    "fbs": ("0", "1"),
    "restecg": ("0", "1", "2"),
    "exang": ("0", "1"),
    "slope": ("1", "2", "3"),
    "thal": ("normal", "fixed", "reversible"),
}

# Canonical spelling -> documented code, only where the meaning is certain (see the module docstring).
MAPPINGS: dict[str, dict[str, str]] = {
    "cp": {"0": "4"},
    "thal": {"1": "fixed", "2": "normal", "6": "fixed", "7": "reversible",
             "fixed defect": "fixed", "reversable defect": "reversible", "reversible defect": "reversible"},
}


def documented_codes(column: str) -> str:
    """The documented codes of a column as a message fragment: '1-4' or 'normal, fixed, reversible'."""
    codes = CODES[column]
    if all(code.isdigit() for code in codes) and len(codes) > 2:
        return f"{codes[0]}-{codes[-1]}"
    return ", ".join(codes)


def canonical(text: str) -> str:
    """One spelling per value: trimmed, lower case, single spaces; whole numbers without '.0' or leading zeros."""
    value = " ".join(text.split()).lower()
    try:
        number = float(value)
    except ValueError:
        return value
    if math.isfinite(number) and number == int(number):
        return str(int(number))
    return repr(number)


def category_value(column: str, text: str) -> tuple[object, str]:
    """Raw cell text of a categorical column -> (value for the transformer, kind).

    value is a documented code (str) or numpy.nan; kind is "documented", "mapped", "unseen" or
    "missing" (empty cell). Raises KeyError for a column that is not categorical.
    """
    codes = CODES[column]
    spelling = canonical(text)
    if spelling == "":
        return np.nan, MISSING
    if spelling in codes:
        return spelling, DOCUMENTED
    mapped = MAPPINGS.get(column, {}).get(spelling)
    if mapped is not None:
        return mapped, MAPPED
    return np.nan, UNSEEN
