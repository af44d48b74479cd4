"""The UCI Heart feature schema and the one function that turns raw CSV text into model features.

models/train.py imports this module too, so training and scoring parse cells the same way.

Continuous columns are the measurements and counts whose order and distance mean something:
age, trestbps (resting blood pressure), chol (cholesterol), thalach (max heart rate), oldpeak
(ST depression) and ca (number of major vessels, a count 0-3: kept numeric so an unseen count
such as 4 still lands on the right side of the learned splits instead of becoming "unknown").
The others are codes or labels without a meaningful distance (sex, cp, fbs, restecg, exang,
slope, thal): categorical, compared as canonical strings.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from csvfolder import InputError

CONTINUOUS = ["age", "trestbps", "chol", "thalach", "oldpeak", "ca"]
CATEGORICAL = ["sex", "cp", "fbs", "restecg", "exang", "slope", "thal"]
# Column order of the public data set; the transformer is fitted in this order.
REQUIRED = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg",
            "thalach", "exang", "oldpeak", "slope", "ca", "thal"]
TARGET = "target"
# Added by the score step in append mode, so no input may carry it.
PREDICTION = "prediction"


def missing_columns(columns) -> list[str]:
    present = set(columns)
    return [c for c in REQUIRED if c not in present]


def canonical_category(text: str):
    """One spelling per category: trimmed, lower-case words, numeric codes without '.0'.

    "1", " 1 ", "1.0" and "01" are the same code; "Normal" and "normal" the same label.
    Empty means missing (NaN), which the fitted imputer fills.
    """
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


def _parse_continuous(raw: pd.Series, column: str, source: str, first_row: int) -> pd.Series:
    text = raw.str.strip()
    numbers = pd.to_numeric(text.where(text != ""), errors="coerce")
    # inf/nan spelled out are not measurements; XGBoost refuses inf anyway.
    bad = (numbers.isna() & (text != "")) | np.isinf(numbers)
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{source}: column '{column}' must be numeric, but data row {first_row + position} "
            f"holds {raw.iloc[position]!r} (empty cells are allowed and count as missing)")
    return numbers.astype("float64")


def build_features(raw: pd.DataFrame, source: str = "<input>", first_row: int = 1) -> pd.DataFrame:
    """Raw text cells (every value a str) → the 13 feature columns the transformer expects.

    `source` names the file and `first_row` is the 1-based data row number of raw's first row,
    so an error points at the offending cell.
    """
    absent = missing_columns(raw.columns)
    if absent:
        raise InputError(f"{source}: missing required column(s): {', '.join(absent)}")
    features = {}
    for column in REQUIRED:
        cells = raw[column].fillna("").astype(str)
        if column in CONTINUOUS:
            features[column] = _parse_continuous(cells, column, source, first_row)
        else:
            # A column holds few distinct spellings: canonicalise each once, not once per cell.
            spellings = {text: canonical_category(text) for text in pd.unique(cells)}
            features[column] = cells.map(spellings).astype(object)
    return pd.DataFrame(features, index=raw.index, columns=REQUIRED)
