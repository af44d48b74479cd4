"""prepare.py and score.py as Azure ML parallel entry scripts (contract C2: init() then run(mini_batch)),
and the warnings for values outside the documented codes (contract C1), in both ways of running."""
from __future__ import annotations

import contextlib
import filecmp
import io
import os
import sys

import pytest

from conftest import MODEL, PREPARE_SRC, SCORE_SRC, TRANSFORMS, UNLABELED, files_under, ok, prepare, score

SAMPLE = os.path.join(UNLABELED, "heart.csv")
HEADER = open(SAMPLE).readline().strip()
ROW = "63,1,1,145,233,1,2,150,0,2.3,3,0,fixed"


def _entry(module_name: str, argv: list[str], batches: list[list[str]]) -> tuple[list, str]:
    """init() with the program arguments (plus the driver's own, which must be ignored), then run() per
    mini-batch, as Azure ML's parallel run and the local driver call them. Returns (results, stderr)."""
    import importlib
    module = importlib.import_module(module_name)
    err = io.StringIO()
    saved = sys.argv
    sys.argv = [module_name + ".py", *argv, "--logging_level", "INFO", "--output_action", "append_row"]
    try:
        with contextlib.redirect_stderr(err):
            module.init()
            results = [module.run(batch) for batch in batches]
    finally:
        sys.argv = saved
    return results, err.getvalue()


def _folder(tmp_path) -> str:
    data = tmp_path / "in"
    (data / "2024").mkdir(parents=True)
    lines = open(SAMPLE).read().splitlines()
    (data / "a.csv").write_text("\n".join([lines[0]] + lines[1:120]) + "\n")
    (data / "2024" / "b.csv").write_text("\n".join([lines[0]] + lines[120:]) + "\n")
    (data / "notes.txt").write_text("not data\n")
    return str(data)


def test_parallel_mode_writes_the_same_files_as_the_command_mode(tmp_path):
    data = _folder(tmp_path)
    ok(prepare(data, str(tmp_path / "cli-p")))
    ok(score(str(tmp_path / "cli-p"), str(tmp_path / "cli-s")))
    items = [os.path.join(data, n) for n in ("2024/b.csv", "a.csv", "notes.txt")]
    results, err = _entry("prepare", ["--data", data, "--transformations", TRANSFORMS,
                                      "--prepared_data", str(tmp_path / "par-p")], [items[:1], items[1:]])
    assert results == [[os.path.join("2024", "b.csv")], ["a.csv", "notes.txt"]]  # one entry per item
    assert "skipping notes.txt" in err
    prepared = str(tmp_path / "par-p")
    results, _ = _entry("score", ["--data", prepared, "--model", MODEL, "--score_mode", "append",
                                  "--scores", str(tmp_path / "par-s")],
                        [[os.path.join(prepared, n)] for n in files_under(prepared)])
    assert files_under(str(tmp_path / "par-s")) == files_under(str(tmp_path / "cli-s")) == ["2024/b.csv", "a.csv"]
    for name in files_under(str(tmp_path / "cli-s")):
        assert filecmp.cmp(tmp_path / "par-s" / name, tmp_path / "cli-s" / name, shallow=False), name


def test_parallel_mode_raises_input_error_naming_file_column_row_and_value_and_keeps_finished_files(tmp_path):
    from csvfolder import InputError
    data = tmp_path / "in"
    data.mkdir()
    (data / "a.csv").write_text(open(SAMPLE).read())
    (data / "b.csv").write_text(f"{HEADER}\n{ROW}\n{ROW.replace('150', 'fast')}\n")
    out = tmp_path / "out"
    argv = ["--data", str(data), "--transformations", TRANSFORMS, "--prepared_data", str(out)]
    with pytest.raises(InputError) as raised:
        _entry("prepare", argv, [[str(data / "a.csv"), str(data / "b.csv")]])
    message = str(raised.value)
    for fragment in ("b.csv", "column 'thalach'", "data row 2", "'fast'"):
        assert fragment in message
    assert files_under(str(out)) == ["a.csv"]  # finished before the failure; no partial b.csv


def test_an_item_outside_the_data_root_is_refused(tmp_path):
    from csvfolder import InputError
    argv = ["--data", str(tmp_path), "--transformations", TRANSFORMS, "--prepared_data", str(tmp_path / "o")]
    with pytest.raises(InputError, match="not under --data"):
        _entry("prepare", argv, [[SAMPLE]])


def _coded(column_values: dict):
    """A heart_codes.category_value stand-in: given (column, stripped text) -> (value, kind), else as is."""
    import heart_codes
    real = heart_codes.category_value

    def category_value(column, text):
        return column_values.get((column, text.strip()), None) or real(column, text)
    return category_value


def test_values_outside_the_documented_codes_warn_once_per_file_column_value_and_kind(tmp_path, monkeypatch):
    import heart_codes
    import prepare as prepare_module
    monkeypatch.setattr(prepare_module, "category_value", _coded({
        ("cp", "0"): ("4", heart_codes.MAPPED),
        ("thal", "1"): (float("nan"), heart_codes.UNSEEN),
        ("thal", "2"): (float("nan"), heart_codes.UNSEEN)}))
    data = tmp_path / "in"
    data.mkdir()
    (data / "heart.csv").write_text(open(SAMPLE).read())
    expected = ["warning: heart.csv: column 'cp' value '0' (4 rows) is not a documented code",
                "warning: heart.csv: column 'thal' value '1' (1 row) is not a documented code",
                "warning: heart.csv: column 'thal' value '2' (1 row) is not a documented code"]
    run = ok(prepare(str(data), str(tmp_path / "cli"), "--chunk-rows", "40"))  # the rows fall in several chunks
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    assert [w.split(" is not")[0] + " is not a documented code" for w in warnings] == expected
    assert warnings[0].endswith(": read as '4'") and all(w.endswith(": scored as missing") for w in warnings[1:])
    # the parallel mode runs the same code
    _, err = _entry("prepare", ["--data", str(data), "--transformations", TRANSFORMS,
                                "--prepared_data", str(tmp_path / "par")], [[str(data / "heart.csv")]])
    assert [line for line in err.splitlines() if line.startswith("warning:")] == warnings


def test_the_shared_modules_are_the_same_in_both_code_folders():
    for name in ("csvfolder.py", "handoff.py"):
        assert filecmp.cmp(os.path.join(PREPARE_SRC, name), os.path.join(SCORE_SRC, name), shallow=False), name


def test_the_command_mode_ignores_no_argument(tmp_path):
    from conftest import run_script
    run = run_script(PREPARE_SRC, "prepare.py", ["--data", UNLABELED, "--transformations", TRANSFORMS,
                                                 "--prepared_data", str(tmp_path / "o"), "--surprise", "1"])
    assert run.code == 2 and "unrecognized arguments: --surprise" in run.stderr
    assert files_under(str(tmp_path / "o")) == []

