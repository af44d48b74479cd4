"""Every bad input: exit 2, a message naming the file/flag (and column), and no output left behind.

Most cases call the scripts' main() in-process (conftest: it returns the process exit code) to keep
the suite fast; a few run the real CLI (cli=True) to show the code and message reach the caller.
"""
from __future__ import annotations

import os
import pickle

import pytest

from conftest import SCORE_SRC, UNLABELED, files_under, ok, prepare, read_text, run_script, score

SAMPLE = os.path.join(UNLABELED, "heart.csv")
HEADER = open(SAMPLE).readline().strip()
ROW = "63,1,1,145,233,1,2,150,0,2.3,3,0,fixed"


def _folder(tmp_path, files: dict) -> str:
    data = tmp_path / "in"
    data.mkdir()
    for name, text in files.items():
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            (data / name).write_bytes(text)
        else:
            (data / name).write_text(text)
    return str(data)


def _expect_bad_input(run, *fragments: str, out: str) -> None:
    assert run.code == 2, f"exit {run.code}\n{run.stderr}"
    for fragment in fragments:
        assert fragment in run.stderr, f"{fragment!r} not in:\n{run.stderr}"
    assert "Traceback" not in run.stderr
    assert files_under(out) == [], "a failed step must leave no output file"


CASES = {
    "missing folder": (None, ["--data", "folder does not exist"]),
    "empty folder": ({}, ["--data", "folder is empty"]),
    "no csv": ({"notes.txt": "hello\n", "data.json": "{}"}, ["no .csv file", "skipping notes.txt"]),
    "missing columns": ({"bad.csv": "age,sex,cp\n63,1,1\n"},
                        ["bad.csv", "missing required column(s): trestbps, chol, fbs, restecg, thalach, exang, "
                                    "oldpeak, slope, ca, thal"]),
    "non-numeric": ({"bad.csv": f"{HEADER}\n{ROW}\n{ROW.replace('145', 'high')}\n"},
                    ["bad.csv", "column 'trestbps'", "data row 2", "'high'"]),
    "no header": ({"empty.csv": ""}, ["empty.csv", "no header row"]),
    "prediction column": ({"p.csv": f"{HEADER},prediction\n{ROW},1\n"}, ["p.csv", "'prediction'", "reserved"]),
    "feature-name column": ({"f.csv": f"{HEADER},num__age\n{ROW},1\n"}, ["f.csv", "num__age", "reserved"]),
    "repeated column": ({"r.csv": f"{HEADER},age\n{ROW},1\n"}, ["r.csv", "repeated", "age"]),
    "long first row": ({"g.csv": f"{HEADER}\n{ROW},extra,cells\n"}, ["g.csv", "not valid CSV", "more fields"]),
    "long later row": ({"g.csv": f"{HEADER}\n{ROW}\n{ROW},extra\n"}, ["g.csv", "not valid CSV", "line 3"]),
    "not utf-8": ({"latin.csv": f"{HEADER}\n{ROW}\n".replace("fixed", "fix\xe9").encode("latin-1")}, ["latin.csv", "not UTF-8"]),
    "infinite number": ({"inf.csv": f"{HEADER}\n{ROW.replace('233', 'inf')}\n"}, ["inf.csv", "column 'chol'", "'inf'"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_prepare_refuses_bad_input(tmp_path, case):
    files, fragments = CASES[case]
    data = str(tmp_path / "missing") if files is None else _folder(tmp_path, files)
    out = str(tmp_path / "out")
    _expect_bad_input(prepare(data, out), *fragments, out=out)


def test_the_cli_process_exits_2_with_the_message_on_stderr(tmp_path):
    files, fragments = CASES["missing columns"]
    out = str(tmp_path / "out")
    _expect_bad_input(prepare(_folder(tmp_path, files), out, cli=True), *fragments, out=out)


def test_a_bad_value_deep_in_a_later_file_removes_the_outputs_already_written(tmp_path):
    good = open(SAMPLE).read()
    bad = f"{HEADER}\n" + "\n".join([ROW] * 20 + [ROW.replace("2.3", "n/a")]) + "\n"
    data = _folder(tmp_path, {"a-good.csv": good, "sub/b-bad.csv": bad})
    out = str(tmp_path / "out")
    run = prepare(data, out, "--chunk-rows", "8")  # the bad row is in the third chunk of the second file
    _expect_bad_input(run, "b-bad.csv", "column 'oldpeak'", "data row 21", "'n/a'", out=out)
    assert not os.listdir(out)  # no .partial file, no sub-folder either


def test_an_unknown_score_mode_lists_the_accepted_values(tmp_path, sample_scores):
    out = str(tmp_path / "out")
    run = score(sample_scores["prepared"], out, "everything", cli=True)
    _expect_bad_input(run, "--score_mode 'everything'", "append, prediction_only", out=out)


def test_score_refuses_raw_csv_that_is_not_the_prepare_output(tmp_path):
    out = str(tmp_path / "out")
    run = score(UNLABELED, out)  # raw input, not the prepare step's output
    _expect_bad_input(run, "heart.csv", "not the prepare step's output", "--data", out=out)


def _rewritten(sample_prepared: str, folder, columns=None, features=None, cut: int = 0) -> str:
    """A copy of a real prepared file with other column/feature names or its last bytes cut off."""
    from handoff import PreparedWriter, read_meta, read_segments
    folder.mkdir()
    target = folder / "x.csv"
    with open(os.path.join(sample_prepared, "heart.csv"), "rb") as source, open(target, "wb") as handle:
        meta = read_meta(source)
        writer = PreparedWriter(handle, columns or meta["columns"], features or meta["features"])
        for segment, ends, text in read_segments(source, len(meta["features"])):
            writer.write(segment, ends, bytes(text))
        writer.close()
    if cut:
        data = target.read_bytes()
        target.write_bytes(data[:-cut])
    return str(folder)


def test_score_refuses_prepared_data_without_the_model_signature_columns(tmp_path, sample_scores):
    from conftest import read_prepared
    names = list(read_prepared(os.path.join(sample_scores["prepared"], "heart.csv"))["features"].columns)
    data = _rewritten(sample_scores["prepared"], tmp_path / "in", features=["x__" + n for n in names])
    out = str(tmp_path / "out")
    _expect_bad_input(score(data, out), "x.csv", "missing model input column(s): num__age", "cat__thal", out=out)


def test_score_refuses_a_prepared_file_cut_short(tmp_path, sample_scores):
    data = _rewritten(sample_scores["prepared"], tmp_path / "in", cut=100)
    out = str(tmp_path / "out")
    _expect_bad_input(score(data, out), "x.csv", "cut short", "run prepare again", out=out)


def test_score_refuses_an_empty_or_missing_folder_or_one_without_csv(tmp_path):
    out = str(tmp_path / "out")
    _expect_bad_input(score(str(tmp_path / "nope"), out), "--data", "does not exist", out=out)
    (tmp_path / "empty").mkdir()
    _expect_bad_input(score(str(tmp_path / "empty"), out), "--data", "folder is empty", out=out)
    (tmp_path / "empty" / "x.parquet").write_text("")
    _expect_bad_input(score(str(tmp_path / "empty"), out), "no .csv file", "skipping x.parquet", out=out)


def test_score_refuses_a_model_folder_without_mlmodel(tmp_path, sample_scores):
    out = str(tmp_path / "out")
    (tmp_path / "model").mkdir()
    run = score(sample_scores["prepared"], out, model=str(tmp_path / "model"))
    _expect_bad_input(run, "--model", "no MLmodel file", out=out)


def test_prepare_refuses_a_transformations_folder_without_the_pickle(tmp_path):
    out = str(tmp_path / "out")
    run = prepare(UNLABELED, out, transforms=str(tmp_path))
    _expect_bad_input(run, "--transformations", "transformations.pkl", out=out)


def test_an_unexpected_internal_error_exits_1_with_a_traceback(tmp_path):
    transforms = tmp_path / "t"
    transforms.mkdir()
    with open(transforms / "transformations.pkl", "wb") as handle:
        pickle.dump({"not": "a transformer"}, handle)
    out = str(tmp_path / "out")
    run = prepare(UNLABELED, out, transforms=str(transforms), cli=True)
    assert run.code == 1 and "Traceback" in run.stderr and "internal error" in run.stderr
    assert files_under(out) == []


def test_score_prediction_column_in_prepared_data_is_refused(tmp_path, sample_scores):
    columns = read_text(SAMPLE).columns.tolist() + ["prediction"]
    data = _rewritten(sample_scores["prepared"], tmp_path / "in", columns=columns)
    out = str(tmp_path / "out")
    _expect_bad_input(score(data, out), "x.csv", "'prediction'", out=out)


def test_usage_errors_exit_2(tmp_path):
    run = run_script(SCORE_SRC, "score.py", ["--data", str(tmp_path)])
    assert run.code == 2 and "--model" in run.stderr
    ok(run_script(SCORE_SRC, "score.py", ["--help"]))
