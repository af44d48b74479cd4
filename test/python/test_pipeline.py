"""prepare → score on real folders: the sample data, several files, dirty rows, edge cases, chunking."""
from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from conftest import (EDGE_CASES, TRAIN, TRANSFORMS, UNLABELED, files_under, ok, prepare, read_prepared,
                      read_text, score)

SAMPLE = os.path.join(UNLABELED, "heart.csv")
FEATURES = json.load(open(os.path.join(TRANSFORMS, "transformations.json")))["featureNames"]


def test_append_mode_keeps_every_input_row_and_column_verbatim_and_adds_0_1_prediction(sample_scores):
    assert files_under(sample_scores["append"]) == ["heart.csv"]
    scored = read_text(os.path.join(sample_scores["append"], "heart.csv"))
    source = read_text(SAMPLE)
    assert len(scored) == 304
    assert list(scored.columns) == list(source.columns) + ["prediction"]
    pd.testing.assert_frame_equal(scored[source.columns], source)  # same rows, same order, same text
    assert set(scored["prediction"]) <= {"0", "1"}
    assert scored["prediction"].nunique() == 2


def test_prediction_only_mode_writes_the_same_predictions_alone(sample_scores):
    only = read_text(os.path.join(sample_scores["prediction_only"], "heart.csv"))
    appended = read_text(os.path.join(sample_scores["append"], "heart.csv"))
    assert list(only.columns) == ["prediction"]
    assert only["prediction"].tolist() == appended["prediction"].tolist()


def test_prepared_data_is_the_input_records_and_the_transformer_named_features(sample_scores):
    prepared = read_prepared(os.path.join(sample_scores["prepared"], "heart.csv"))
    source = read_text(SAMPLE)
    assert prepared["columns"] == list(source.columns)
    assert list(prepared["features"].columns) == FEATURES
    assert FEATURES[0] == "num__age" and FEATURES[-1] == "cat__thal"
    # the records as the score step writes them, each waiting for its prediction digit
    lines = open(SAMPLE, "rb").read().splitlines()[1:]
    assert prepared["text"] == b"".join(line + b",0\n" for line in lines)
    assert len(prepared["features"]) == len(source) == 304
    age = (source["age"].astype(float) - source["age"].astype(float).mean()).to_numpy()
    assert np.corrcoef(prepared["features"]["num__age"], age)[0, 1] > 0.999  # scaled age, in row order


def test_predictions_track_the_labels_on_the_training_data(tmp_path):
    # Catches mis-wired features (wrong order, wrong column) that would still produce 0/1 output.
    ok(prepare(TRAIN, str(tmp_path / "p")))
    ok(score(str(tmp_path / "p"), str(tmp_path / "s")))
    scored = read_text(str(tmp_path / "s" / "heart.csv"))
    assert "target" in scored.columns  # extra input columns are carried through
    accuracy = (scored["prediction"] == scored["target"]).mean()
    assert accuracy > 0.85, accuracy


def test_the_dirty_rows_are_scored_with_their_codes_known_from_training(sample_scores):
    source = read_text(SAMPLE)
    prepared = read_prepared(os.path.join(sample_scores["prepared"], "heart.csv"))["features"]
    cp_zero = source.index[source["cp"] == "0"]
    thal_numeric = source.index[source["thal"].isin(["1", "2"])]
    assert len(cp_zero) == 4 and len(thal_numeric) == 2
    for rows, column in ((cp_zero, "cat__cp"), (thal_numeric, "cat__thal")):
        # seen in training, so encoded (not mapped to missing)
        assert prepared.loc[rows, column].notna().all()
    scored = read_text(os.path.join(sample_scores["append"], "heart.csv"))
    assert scored.loc[cp_zero.union(thal_numeric), "prediction"].isin(["0", "1"]).all()


def test_a_folder_of_several_files_gives_one_output_per_file_with_the_same_relative_names(tmp_path, sample_scores):
    source = read_text(SAMPLE)
    data = tmp_path / "in"
    (data / "2024" / "q1").mkdir(parents=True)
    parts = {"a.csv": source.iloc[:100], "2024/b.csv": source.iloc[100:250], "2024/q1/c.CSV": source.iloc[250:]}
    for name, frame in parts.items():
        frame.to_csv(data / name, index=False)
    (data / "README.txt").write_text("not data\n")
    prepared, scored = tmp_path / "p", tmp_path / "fresh" / "nested" / "s"  # output folders need not exist
    run = ok(prepare(str(data), str(prepared)))
    assert "skipping README.txt" in run.stderr
    ok(score(str(prepared), str(scored)))
    assert files_under(str(scored)) == sorted(os.path.normpath(n) for n in parts)
    together = pd.concat([read_text(str(scored / n)) for n in parts], ignore_index=True)
    pd.testing.assert_frame_equal(together, read_text(os.path.join(sample_scores["append"], "heart.csv")))


def test_edge_cases_score_unseen_values_as_missing_and_keep_odd_inputs_verbatim(tmp_path):
    run = ok(prepare(EDGE_CASES, str(tmp_path / "p")))
    unknown = [line for line in run.stderr.splitlines() if "column 'thal' value 'unknown' (1 row)" in line]
    assert len(unknown) == 1 and unknown[0].startswith("warning: ") and unknown[0].endswith("scored as missing")
    ok(score(str(tmp_path / "p"), str(tmp_path / "s")))
    inputs = files_under(EDGE_CASES)
    assert files_under(str(tmp_path / "s")) == inputs
    for name in inputs:
        source = read_text(os.path.join(EDGE_CASES, name))
        scored = read_text(str(tmp_path / "s" / name))
        assert list(scored.columns) == list(source.columns) + ["prediction"], name
        pd.testing.assert_frame_equal(scored[source.columns], source)  # quotes, spaces, newlines kept
        assert scored["prediction"].isin(["0", "1"]).all(), name

    prepared = read_prepared(str(tmp_path / "p" / "unseen-values.csv"))["features"]
    empty = read_prepared(str(tmp_path / "p" / "missing-cells.csv"))["features"]
    # cp 7 and thal "unknown" are not documented codes: scored exactly as an empty cell is
    assert prepared.loc[0, "cat__cp"] == empty.loc[1, "cat__cp"]
    assert prepared.loc[0, "cat__thal"] == empty.loc[0, "cat__thal"]
    # "Normal" and " reversible " are spellings of known labels, "1.0" of code 1: not unseen
    normal = prepared.loc[1, "cat__thal"]
    assert prepared.loc[2, "cat__thal"] == normal
    assert not np.isnan(prepared.loc[3, "cat__thal"]) and prepared.loc[3, "cat__sex"] == prepared.loc[0, "cat__sex"]
    # an all-empty row is imputed and still scored
    missing = read_text(str(tmp_path / "s" / "missing-cells.csv"))
    assert len(missing) == 4


def test_small_chunks_give_byte_identical_outputs(tmp_path, sample_scores):
    ok(prepare(UNLABELED, str(tmp_path / "p"), "--chunk-rows", "50"))  # 7 chunks, the last one short
    ok(score(str(tmp_path / "p"), str(tmp_path / "s"), "append", "--chunk-rows", "64"))
    whole = read_prepared(os.path.join(sample_scores["prepared"], "heart.csv"))
    chunked = read_prepared(str(tmp_path / "p" / "heart.csv"))
    assert chunked["text"] == whole["text"]
    pd.testing.assert_frame_equal(chunked["features"], whole["features"])
    with open(os.path.join(sample_scores["append"], "heart.csv"), "rb") as a, open(tmp_path / "s" / "heart.csv", "rb") as b:
        assert a.read() == b.read()


def test_a_header_only_csv_gives_a_header_only_output_with_a_warning(tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    header = open(SAMPLE).readline()
    (data / "empty-batch.csv").write_text(header)
    run = ok(prepare(str(data), str(tmp_path / "p")))
    assert "header only" in run.stderr
    prepared = read_prepared(str(tmp_path / "p" / "empty-batch.csv"))
    assert prepared["columns"] == header.strip().split(",") and list(prepared["features"].columns) == FEATURES
    assert len(prepared["features"]) == 0 and prepared["text"] == b""
    ok(score(str(tmp_path / "p"), str(tmp_path / "s")))
    assert open(tmp_path / "s" / "empty-batch.csv").read() == header.strip() + ",prediction\n"
    ok(score(str(tmp_path / "p"), str(tmp_path / "o"), "prediction_only"))
    assert open(tmp_path / "o" / "empty-batch.csv").read() == "prediction\n"


def test_the_scripts_leave_no_bytecode_in_the_uploaded_folders(sample_scores):
    # models/ and components/*/src are hashed and uploaded as they are.
    from conftest import REPO
    for folder in ("components/prepare/src", "components/score/src", "models"):
        for root, dirs, names in os.walk(os.path.join(REPO, folder)):
            assert "__pycache__" not in dirs, root
            assert not [n for n in names if n.endswith(".pyc")], root


def test_a_byte_order_mark_and_windows_line_endings_are_read_as_plain_csv(tmp_path, sample_scores):
    data = tmp_path / "in"
    data.mkdir()
    text = open(SAMPLE).read()
    (data / "heart.csv").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    ok(prepare(str(data), str(tmp_path / "p")))
    ok(score(str(tmp_path / "p"), str(tmp_path / "s")))
    with open(tmp_path / "s" / "heart.csv", "rb") as a, open(os.path.join(sample_scores["append"], "heart.csv"), "rb") as b:
        assert a.read() == b.read()
