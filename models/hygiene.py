"""Training-data hygiene: one row per patient, documented codes only, and a record of every decision.

The rule, applied in this order to the raw text rows of the training files:

1. Same patient. Rows agreeing on every column whose coding cannot differ (IDENTITY: age, sex, resting blood
   pressure, cholesterol, fasting sugar, max heart rate, exercise angina, ST depression, vessel count; none
   empty) describe one patient, whatever their cp/restecg/slope/thal say. In such a group:
   - labels differ: every row of the group is dropped (contradictory duplicate: no way to tell which is right);
   - labels agree: the first row (file order) whose categorical cells are all documented codes is kept (the
     first row if none is), the others are dropped (duplicate patient).
2. Evidence. In each group, a row holding a non-documented code beside a row holding a documented one shows
   how the other coding maps (e.g. cp 0 beside cp 4). Each such pair is counted; a pair that contradicts a
   mapping of heart_codes (the code maps elsewhere) stops the training: the mapping would not be certain.
3. Codes. In the kept rows, each categorical cell goes through heart_codes.category_value: a mapped value is
   replaced by its documented code, an unseen one becomes empty (missing, imputed by the transformer).

Pure: data in, (cleaned rows, report) out; the caller logs and writes the report.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from csvfolder import InputError
from heart_codes import DOCUMENTED, MAPPED, UNSEEN, canonical, category_value
from heart_features import CATEGORICAL, TARGET

IDENTITY = ["age", "sex", "trestbps", "chol", "fbs", "thalach", "exang", "oldpeak", "ca"]


@dataclass
class Report:
    rows_read: int = 0
    # (row label, reason) for every dropped row, in file order.
    dropped: list[tuple[str, str]] = field(default_factory=list)
    # (column, raw spelling, kind, documented code or "" for missing, rows)
    changes: list[tuple[str, str, str, str, int]] = field(default_factory=list)
    rows_changed: int = 0
    # (column, spelling in the other coding, documented code beside it, pairs seen)
    evidence: list[tuple[str, str, str, int]] = field(default_factory=list)

    @property
    def rows_kept(self) -> int:
        return self.rows_read - len(self.dropped)


def _coded(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per categorical cell: the value for the transformer (as text, "" for missing) and its kind."""
    values, kinds = {}, {}
    for column in CATEGORICAL:
        cells = raw[column].fillna("").astype(str)
        decided = {text: category_value(column, text) for text in pd.unique(cells)}
        values[column] = cells.map({t: v if k in (DOCUMENTED, MAPPED) else "" for t, (v, k) in decided.items()})
        kinds[column] = cells.map({t: k for t, (_, k) in decided.items()})
    return pd.DataFrame(values, index=raw.index), pd.DataFrame(kinds, index=raw.index)


def _identity(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: raw[c].fillna("").astype(str).map(canonical) for c in IDENTITY}, index=raw.index)


def _join(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def clean(raw: pd.DataFrame, row_labels: list[str]) -> tuple[pd.DataFrame, Report]:
    """raw: text cells with the feature columns and TARGET, labels stripped to 0/1; row_labels names each row
    in messages ("heart.csv row 248"). Returns the kept rows (codes rewritten, index reset) and the report."""
    report = Report(rows_read=len(raw))
    labels = pd.Series(row_labels, index=raw.index)
    values, kinds = _coded(raw)
    identity = _identity(raw)
    complete = (identity != "").all(axis=1)
    drop: dict[int, str] = {}
    evidence: dict[tuple[str, str, str], int] = {}
    for _, group in identity[complete].groupby(IDENTITY, sort=False):
        if len(group) < 2:
            continue
        rows = list(group.index)
        for a in rows:
            for b in rows:
                for column in CATEGORICAL:
                    if kinds.at[a, column] in (MAPPED, UNSEEN) and kinds.at[b, column] == DOCUMENTED:
                        spelling = canonical(str(raw.at[a, column]))
                        key = (column, spelling, values.at[b, column])
                        evidence[key] = evidence.get(key, 0) + 1
                        if kinds.at[a, column] == MAPPED and values.at[a, column] != values.at[b, column]:
                            raise InputError(
                                f"{labels[a]} and {labels[b]} are one patient, but {column} {spelling!r} "
                                f"stands beside {values.at[b, column]!r} where heart_codes maps it to "
                                f"{values.at[a, column]!r}: the mapping is not certain on these data")
        names = [labels[r] for r in rows]
        targets = raw.loc[rows, TARGET].tolist()
        if len(set(targets)) > 1:
            for r in rows:
                drop[r] = f"contradictory duplicate: same patient as {_join([n for n in names if n != labels[r]])}, labels {'/'.join(targets)}"
            continue
        documented = [r for r in rows if (kinds.loc[r] == DOCUMENTED).all()]
        keep = documented[0] if documented else rows[0]
        for r in rows:
            if r != keep:
                drop[r] = f"duplicate patient: same as {labels[keep]} (kept), same label"
    report.dropped = [(labels[r], drop[r]) for r in raw.index if r in drop]
    report.evidence = [(c, s, d, n) for (c, s, d), n in sorted(evidence.items())]

    kept = raw.drop(index=list(drop)).copy()
    changed = pd.Series(False, index=kept.index)
    for column in CATEGORICAL:
        kind = kinds.loc[kept.index, column]
        touched = kind.isin([MAPPED, UNSEEN])
        spellings = kept.loc[touched, column].astype(str).map(canonical)
        for spelling, count in sorted(Counter(spellings).items()):
            code, how = category_value(column, spelling)
            report.changes.append((column, spelling, how, code if how == MAPPED else "", count))
        changed |= touched
        kept[column] = values.loc[kept.index, column]
    report.rows_changed = int(changed.sum())
    return kept.reset_index(drop=True), report
