"""heart_codes.category_value (contract C1): documented codes pass in any spelling, certain mappings are mapped,
everything else outside the documented codes is unseen (missing), empty is missing."""
from __future__ import annotations

import math

import pytest

import heart_codes
from heart_codes import CODES, DOCUMENTED, MAPPED, MAPPINGS, MISSING, UNSEEN, category_value, documented_codes
from heart_features import CATEGORICAL


def _is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def test_every_categorical_column_has_documented_codes():
    assert list(CODES) == CATEGORICAL


@pytest.mark.parametrize("column", CATEGORICAL)
def test_each_documented_code_is_documented_in_every_spelling(column):
    for code in CODES[column]:
        spellings = [code, f" {code} ", code.upper(), code.title()]
        if code.isdigit():
            spellings += [f"{code}.0", f"0{code}", f"{code}.000"]
        for text in spellings:
            assert category_value(column, text) == (code, DOCUMENTED), (column, text)


@pytest.mark.parametrize("column, text, code", [
    ("cp", "0", "4"), ("cp", "0.0", "4"), ("cp", " 00 ", "4"),
    ("thal", "6", "fixed"), ("thal", "7.0", "reversible"), ("thal", "1", "fixed"), ("thal", "2", "normal"),
    ("thal", "Fixed Defect", "fixed"), ("thal", "reversable  defect", "reversible"),
    ("thal", "REVERSIBLE DEFECT", "reversible"),
])
def test_certain_mappings_are_mapped_to_documented_codes(column, text, code):
    assert category_value(column, text) == (code, MAPPED)


@pytest.mark.parametrize("column, text", [
    ("cp", "5"), ("cp", "-1"), ("cp", "1.5"), ("cp", "four"),
    ("thal", "3"),  # UCI's normal, but reversible in the other coding: ambiguous
    ("thal", "0"), ("thal", "abnormal"), ("slope", "0"), ("restecg", "3"), ("sex", "2"), ("sex", "m"),
    ("fbs", "nan"), ("exang", "inf"),
])
def test_values_outside_the_documented_codes_that_cannot_be_mapped_are_unseen(column, text):
    value, kind = category_value(column, text)
    assert kind == UNSEEN and _is_nan(value), (column, text, value, kind)


@pytest.mark.parametrize("column", CATEGORICAL)
@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_empty_cells_are_missing(column, text):
    value, kind = category_value(column, text)
    assert kind == MISSING and _is_nan(value)


def test_every_mapping_lands_on_a_documented_code_and_never_remaps_one():
    for column, mapping in MAPPINGS.items():
        for spelling, code in mapping.items():
            assert code in CODES[column], (column, spelling)
            assert spelling not in CODES[column], (column, spelling)
            assert heart_codes.canonical(spelling) == spelling, (column, spelling)


def test_only_categorical_columns_are_accepted():
    with pytest.raises(KeyError):
        category_value("age", "63")


def test_documented_codes_read_well_in_messages():
    assert documented_codes("cp") == "1-4"
    assert documented_codes("restecg") == "0-2"
    assert documented_codes("sex") == "0, 1"
    assert documented_codes("thal") == "normal, fixed, reversible"
