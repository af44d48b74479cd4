"""The fast prepare → score gives, byte for byte, what a straightforward pipeline gives: every cell read as
text with pandas, build_features, the fitted transformer, the model, and pandas to_csv (REFERENCE below,
which is how the steps worked before the binary hand-off). Checked on the sample data, the edge cases and
synthesized odd files that take both readers (fast and general) through blank lines, CRLF, a BOM, short
rows, extra columns, empty cells, quotes, embedded newlines, unicode and block/chunk boundaries.
"""
from __future__ import annotations

import io
import os
import pickle
import random

import pandas as pd
import pytest

from conftest import (EDGE_CASES, MODEL, TRANSFORMS, UNLABELED, files_under, ok, prepare, read_text,
                      score)

SAMPLE = os.path.join(UNLABELED, "heart.csv")


def reference_scores(data: str, mode: str) -> dict[str, bytes]:
    """The straightforward pipeline, kept here as the yardstick."""
    from csvfolder import list_csv_files
    from heart_features import build_features
    from model_loader import as_labels, load_predict, read_mlmodel, signature_inputs
    with open(os.path.join(TRANSFORMS, "transformations.pkl"), "rb") as handle:
        transformer = pickle.load(handle)
    predict, _ = load_predict(MODEL, use_mlflow=False)
    signature = signature_inputs(read_mlmodel(MODEL), MODEL)
    scores = {}
    for relative in list_csv_files(data, "--data"):
        raw = pd.read_csv(os.path.join(data, relative), dtype=str, keep_default_na=False, na_filter=False,
                          index_col=False, encoding="utf-8-sig")
        raw.columns = [str(c).strip() for c in raw.columns]
        raw = raw.fillna("")
        if len(raw):
            features = pd.DataFrame(transformer.transform(build_features(raw)), index=raw.index,
                                    columns=transformer.get_feature_names_out())
            labels = as_labels(predict(features[signature]), relative)
        else:
            labels = []
        out = raw.assign(prediction=labels) if mode == "append" else pd.DataFrame({"prediction": labels})
        buffer = io.StringIO()
        out.to_csv(buffer, index=False, lineterminator="\n")
        scores[relative] = buffer.getvalue().encode("utf-8")
    return scores


def pipeline_scores(data: str, tmp_path, mode: str, *prepare_args: str) -> dict[str, bytes]:
    prepared, scored = str(tmp_path / f"p-{mode}"), str(tmp_path / f"s-{mode}")
    ok(prepare(data, prepared, *prepare_args))
    ok(score(prepared, scored, mode))
    return {name: open(os.path.join(scored, name), "rb").read() for name in files_under(scored)}


def assert_identical(data: str, tmp_path, *prepare_args: str) -> None:
    for mode in ("append", "prediction_only"):
        expected = reference_scores(data, mode)
        got = pipeline_scores(data, tmp_path, mode, *prepare_args)
        assert sorted(got) == sorted(expected)
        for name in expected:
            assert got[name] == expected[name], f"{mode} {name}: first difference at byte " + str(
                next((i for i, (a, b) in enumerate(zip(got[name], expected[name])) if a != b),
                     min(len(got[name]), len(expected[name]))))


def _odd_rows(count: int, seed: int) -> tuple[list[str], list[list[str]]]:
    """Sample rows with odd but valid spellings, columns reordered, an id and a unicode note."""
    source = read_text(SAMPLE)
    rng = random.Random(seed)
    columns = ["patient_id"] + list(source.columns[::-1]) + ["note"]
    notes = ["", "Zoë", "患者 12", "ok", "  padded  ", "naïve café", "x" * 23]
    spellings = {"thal": {"normal": ["normal", "Normal", " NORMAL ", "normal"], "reversible": ["reversible", " reversible "]},
                 "sex": {"1": ["1", "1.0", "01", " 1"]}, "cp": {"4": ["4", "4.0", "  4  "]}}
    rows = []
    for i in range(count):
        record = source.iloc[rng.randrange(len(source))].to_dict()
        for column, options in spellings.items():
            if record[column] in options:
                record[column] = rng.choice(options[record[column]])
        if rng.random() < 0.05:
            record[rng.choice(list(source.columns))] = ""  # an empty cell: missing
        if rng.random() < 0.02:
            record["age"] = f"  {record['age'] or '50'}.000000000000 "  # a field longer than 16 bytes
        rows.append([f"P-{i:05d}"] + [record[c] for c in source.columns[::-1]] + [rng.choice(notes)])
    return columns, rows


def _write_fast_odd(path, rows_count: int, seed: int) -> None:
    """No quote character anywhere: the fast reader's file, with everything else odd."""
    columns, rows = _odd_rows(rows_count, seed)
    rng = random.Random(seed + 1)
    lines = [",".join(columns)]
    for row in rows:
        if rng.random() < 0.01:
            lines.append("")  # blank line: skipped, as pandas skips it
        if rng.random() < 0.01:
            lines.append(" \t ")  # whitespace only: skipped too
        if rng.random() < 0.01:
            row = row[:-2]  # a short row: its last cells read as empty
        lines.append(",".join(row))
    text = "\r\n".join(lines)  # CRLF, and no newline at the end
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))


def _write_general_odd(path, rows_count: int, seed: int) -> None:
    """Quoted fields, doubled quotes, embedded newlines, a lone CR: the general reader's file."""
    columns, rows = _odd_rows(rows_count, seed)
    rng = random.Random(seed + 2)
    out = io.StringIO()
    out.write(",".join(columns) + "\n")
    for i, row in enumerate(rows):
        cells = []
        for cell in row:
            roll = rng.random()
            if roll < 0.05:
                cells.append('"' + cell + '"')  # quoted for nothing: written back unquoted
            else:
                cells.append(cell)
        if rng.random() < 0.05:
            cells[-1] = '"says ""hi"", then\nleaves"'
        out.write(",".join(cells) + ("\r" if i == 5 else "\n"))
    path.write_text(out.getvalue(), encoding="utf-8")


def test_the_sample_data_scores_byte_identical_to_the_reference(tmp_path):
    assert_identical(UNLABELED, tmp_path)


def test_the_edge_cases_score_byte_identical_to_the_reference(tmp_path):
    assert_identical(EDGE_CASES, tmp_path)


def test_odd_files_score_byte_identical_across_blocks_and_chunks(tmp_path, monkeypatch):
    import records
    monkeypatch.setattr(records, "BLOCK_BYTES", 4096)  # many blocks, lines cut at every block end
    data = tmp_path / "in"
    (data / "sub").mkdir(parents=True)
    _write_fast_odd(data / "fast.csv", 3000, seed=1)
    _write_general_odd(data / "sub" / "general.csv", 1500, seed=2)
    (data / "header-only.csv").write_text(open(SAMPLE).readline())
    sample = open(SAMPLE).read().splitlines()
    # a trailing delimiter on the first row: pandas reads one more (empty) column on every row and drops it
    (data / "trailing.csv").write_text("\n".join([sample[0], "", sample[1] + ","] + [s + "," for s in sample[2:50]] + sample[50:60]) + "\n")
    assert not records._needs_general_reader(str(data / "fast.csv"), 15)
    assert records._needs_general_reader(str(data / "sub" / "general.csv"), 15)
    assert records._needs_general_reader(str(data / "trailing.csv"), 13)
    assert_identical(str(data), tmp_path, "--chunk-rows", "777")


def test_a_fast_file_and_the_same_file_with_quotes_give_the_same_scores(tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    _write_fast_odd(data / "a.csv", 800, seed=3)
    text = (data / "a.csv").read_bytes().decode("utf-8-sig")
    quoted = "\n".join('"' + line.replace(",", '","') + '"' if line.strip() and i else line
                       for i, line in enumerate(text.split("\r\n")))
    (data / "b.csv").write_text(quoted, encoding="utf-8")
    got = pipeline_scores(str(data), tmp_path, "append")
    assert got["a.csv"] == got["b.csv"]
