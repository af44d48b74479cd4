"""Shared helpers: paths, and running the component scripts the way the pipeline does."""
from __future__ import annotations

import contextlib
import importlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

# Importing the component modules in-process must not drop __pycache__ into the uploaded code folders.
sys.dont_write_bytecode = True

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREPARE_SRC = os.path.join(REPO, "components", "prepare", "src")
SCORE_SRC = os.path.join(REPO, "components", "score", "src")
TRANSFORMS = os.path.join(REPO, "models", "heart-classifier-transforms")
MODEL = os.path.join(REPO, "models", "heart-classifier")
UNLABELED = os.path.join(REPO, "data", "unlabeled")
TRAIN = os.path.join(REPO, "data", "train")
EDGE_CASES = os.path.join(REPO, "data", "edge-cases")

for folder in (PREPARE_SRC, SCORE_SRC):
    if folder not in sys.path:
        sys.path.insert(0, folder)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def run_script(code_dir: str, script: str, args: list[str], env_extra: dict | None = None) -> Run:
    """Runs a component script as the pipeline does: in its code folder, with the test's Python."""
    env = dict(os.environ)
    env.update(env_extra or {})
    done = subprocess.run([sys.executable, script, *args], cwd=code_dir, env=env,
                          capture_output=True, text=True, timeout=120)
    return Run(done.returncode, done.stdout, done.stderr)


def _in_process(module_name: str, args: list[str]) -> Run:
    """main() of a component script, called here: it returns the exit code the CLI exits with.

    Much faster than a new interpreter per case; tests that are about the process itself
    (and the session fixture below) pass cli=True.
    """
    module = importlib.import_module(module_name)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = module.main(args)
    return Run(code, "", err.getvalue())


def prepare(data: str, out: str, *extra: str, transforms: str = TRANSFORMS, cli: bool = False) -> Run:
    args = ["--data", data, "--transformations", transforms, "--prepared_data", out, *extra]
    return run_script(PREPARE_SRC, "prepare.py", args) if cli else _in_process("prepare", args)


def score(data: str, out: str, mode: str = "append", *extra: str, model: str = MODEL,
          env_extra: dict | None = None, cli: bool = False) -> Run:
    args = ["--data", data, "--model", model, "--score_mode", mode, "--scores", out, *extra]
    return run_script(SCORE_SRC, "score.py", args, env_extra) if cli else _in_process("score", args)


def read_text(path: str) -> pd.DataFrame:
    """A CSV with every cell as the text it holds (how the steps read their input)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)


def read_prepared(path: str) -> dict:
    """A prepared-data file (the private hand-off between prepare and score, handoff.py) as plain values:
    input column names, the feature names, the features as one float64 frame and the records' text."""
    from handoff import read_meta, read_segments
    with open(path, "rb") as handle:
        meta = read_meta(handle)
        width = len(meta["features"])
        parts, texts = [], []
        for segment, ends, text in read_segments(handle, width):
            parts.append(segment.matrix(list(range(width))))
            texts.append(bytes(text))
    matrix = np.concatenate(parts) if parts else np.empty((0, width))
    return {"columns": meta["columns"], "features": pd.DataFrame(matrix, columns=meta["features"]),
            "text": b"".join(texts)}


def files_under(folder: str) -> list[str]:
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, _, names in os.walk(folder) for name in names)


def ok(run: Run) -> Run:
    assert run.code == 0, f"exit {run.code}\nstderr:\n{run.stderr}"
    return run


@pytest.fixture(scope="session")
def sample_scores(tmp_path_factory):
    """The sample data through prepare and both score modes, once per test session."""
    base = tmp_path_factory.mktemp("sample")
    prepared, appended, only = (str(base / n) for n in ("prepared", "append", "only"))
    ok(prepare(UNLABELED, prepared, cli=True))
    ok(score(prepared, appended, "append", cli=True))
    ok(score(prepared, only, "prediction_only", cli=True))
    return {"prepared": prepared, "append": appended, "prediction_only": only}
