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

import numpy as np
import pandas as pd

from csvfolder import InputError
from heart_codes import category_value

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


def continuous_numbers(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Cell texts of a continuous column -> (float64 values, NaN where empty; mask of cells that are not
    numbers). Element-wise, so the same on every cell or once per distinct spelling."""
    text = text.str.strip()
    numbers = pd.to_numeric(text.where(text != ""), errors="coerce")
    # inf/nan spelled out are not measurements; XGBoost refuses inf anyway.
    bad = (numbers.isna() & (text != "")) | np.isinf(numbers)
    return numbers.to_numpy(dtype="float64"), bad.to_numpy()


def not_numeric(source: str, column: str, row: int, text: str) -> InputError:
    return InputError(f"{source}: column '{column}' must be numeric, but data row {row} holds {text!r} "
                      "(empty cells are allowed and count as missing)")


def _parse_continuous(raw: pd.Series, column: str, source: str, first_row: int) -> pd.Series:
    numbers, bad = continuous_numbers(raw)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise not_numeric(source, column, first_row + position, raw.iloc[position])
    return pd.Series(numbers, index=raw.index, dtype="float64")


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
            # A column holds few distinct spellings: read each once, not once per cell (contract C1).
            spellings = {text: category_value(column, text)[0] for text in pd.unique(cells)}
            features[column] = cells.map(spellings).astype(object)
    return pd.DataFrame(features, index=raw.index, columns=REQUIRED)
