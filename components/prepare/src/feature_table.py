"""Applies the fitted transformer once per distinct value of each column instead of once per cell.

A chunk of a million rows holds a few hundred distinct values per column. When every output column of the
fitted ColumnTransformer depends on one input column alone (imputers, scalers, ordinal encoders: each works
column by column, element by element), transforming a small frame of the distinct values and looking each
row's code up in that table gives exactly the floats a transform of the whole chunk gives. Anything else
(one-hot encoders, imputers with indicators, models of several columns) is transformed chunk by chunk,
as before: correct, only slower. Which path is taken is decided from the fitted object and then checked
on a sample at load time, never assumed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from handoff import Segment

_SAMPLE_CONTINUOUS = [np.nan, -1.0, 0.0, 0.5, 2.5, 130.0, 1e6]
_SAMPLE_CATEGORICAL = [np.nan, "0", "1", "2", "3", "4", "normal", "fixed", "reversible", "never-seen"]


def _columnwise_steps(step) -> bool:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, OrdinalEncoder, RobustScaler, StandardScaler
    if isinstance(step, str):
        return step == "passthrough"
    steps = [s for _, s in step.steps] if isinstance(step, Pipeline) else [step]
    for estimator in steps:
        if isinstance(estimator, SimpleImputer):
            if estimator.add_indicator:
                return False
        elif not isinstance(estimator, (StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler, OrdinalEncoder)):
            return False
    return True


def output_sources(transformer, names: list[str]) -> list[str] | None:
    """The input column each output column is computed from, when the transformer works column by column."""
    from sklearn.compose import ColumnTransformer
    if not isinstance(transformer, ColumnTransformer):
        return None
    inputs = [str(c) for c in getattr(transformer, "feature_names_in_", [])]
    sources: list[str] = []
    for _, step, columns in transformer.transformers_:
        if isinstance(step, str) and step == "drop":
            continue
        if not _columnwise_steps(step):
            return None
        for column in columns:
            if isinstance(column, (int, np.integer)):
                if not 0 <= column < len(inputs):
                    return None
                column = inputs[column]
            elif not isinstance(column, str):
                return None
            sources.append(column)
    return sources if len(sources) == len(names) else None


class FeatureTransform:
    """transform(values, codes) -> float64 (rows x outputs): values[c] holds column c's value per distinct
    spelling (float64 for continuous columns, str or NaN for categorical ones), codes[c] the spelling of each
    row. Gives what transformer.transform gives on the DataFrame of the rows."""

    def __init__(self, transformer, columns: list[str], categorical: set[str]):
        self.transformer = transformer
        self.columns = columns
        self.categorical = categorical
        self.names = [str(n) for n in transformer.get_feature_names_out()]
        self.sources = output_sources(transformer, self.names)
        if self.sources is not None and not self._agrees_on_a_sample():
            self.sources = None

    @property
    def by_distinct_value(self) -> bool:
        return self.sources is not None

    def _frame(self, values: dict[str, np.ndarray], rows: int) -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(values[c], dtype=object if c in self.categorical else "float64")
                             for c in self.columns}, index=pd.RangeIndex(rows), columns=self.columns)

    def _full(self, values: dict, codes: dict, rows: int) -> np.ndarray:
        frame = self._frame({c: np.asarray(values[c], dtype=object if c in self.categorical else "float64")[codes[c]]
                             for c in self.columns}, rows)
        return np.asarray(self.transformer.transform(frame), dtype="float64")

    def table(self, values: dict) -> np.ndarray:
        """The transformer's output on the distinct values: row r holds value r of every column (columns
        with fewer values repeat their first one)."""
        longest = max(len(values[c]) for c in self.columns)
        padded = {}
        for c in self.columns:
            column = np.asarray(values[c], dtype=object if c in self.categorical else "float64")
            padded[c] = np.concatenate([column, np.repeat(column[:1], longest - len(column))])
        return np.asarray(self.transformer.transform(self._frame(padded, longest)), dtype="float64")

    def transform(self, values: dict, codes: dict, rows: int) -> tuple[Segment, np.ndarray | None]:
        """(features, table or None): coded per output column when the transformer works column by column
        (the table lets callers see which distinct values came out missing), else a dense matrix."""
        if self.sources is None or rows == 0:
            dense = self._full(values, codes, rows) if rows else np.empty((0, len(self.names)), dtype="float64")
            return Segment(rows, dense=dense), None
        table = self.table(values)
        coded = [(np.ascontiguousarray(table[:len(values[source]), j]), codes[source])
                 for j, source in enumerate(self.sources)]
        return Segment(rows, coded=coded), table

    def _agrees_on_a_sample(self) -> bool:
        values = {c: _SAMPLE_CATEGORICAL if c in self.categorical else _SAMPLE_CONTINUOUS for c in self.columns}
        rows = 61
        codes = {c: (np.arange(rows) * (i + 2) + i) % len(values[c]) for i, c in enumerate(self.columns)}
        try:
            fast = self.transform(values, codes, rows)[0].matrix(list(range(len(self.names))))
        except Exception:  # noqa: BLE001 - a transformer that refuses the sample is transformed chunk by chunk
            return False
        return np.array_equal(fast, self._full(values, codes, rows), equal_nan=True)
