"""score step: runs the MLflow XGBoost classifier on every prepared CSV in a folder.

    python score.py --data DIR --model DIR --score_mode append|prediction_only --scores DIR [--chunk-rows N]

For each prepared CSV (recursively, sorted, same relative name) it writes one CSV, rows in input
order: append -> the input columns (every column that is not a model feature), unchanged, then
`prediction` (0/1); prediction_only -> `prediction` alone. The model reads the columns named in
its MLmodel signature. Files are processed one at a time and in chunks, so memory stays flat.

Exit codes: 0 success; 2 bad input or usage (message on stderr names the file/flag and columns);
1 unexpected internal error; 130 interrupted. On any failure no output file is left behind.
"""
from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the code folder that gets uploaded

import argparse  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from csvfolder import (InputError, OutputFolder, list_csv_files, progress,  # noqa: E402
                       read_header, read_text_chunks, run_step, write_each)
from model_loader import as_labels, load_predict, read_mlmodel, signature_inputs  # noqa: E402

SCORE_MODES = ("append", "prediction_only")
PREDICTION = "prediction"
DEFAULT_CHUNK_ROWS = 100_000


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="score.py", description="Score every prepared CSV in a folder with the MLflow classifier.")
    parser.add_argument("--data", required=True, help="folder of prepared CSV files (the prepare step's output)")
    parser.add_argument("--model", required=True, help="MLflow model folder (MLmodel + native model)")
    parser.add_argument("--score_mode", default="append",
                        help=f"one of: {', '.join(SCORE_MODES)} (default append)")
    parser.add_argument("--scores", required=True, help="output folder: one CSV per input file, same names")
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS,
                        help=f"rows read and scored at a time (default {DEFAULT_CHUNK_ROWS})")
    args = parser.parse_args(argv)
    if args.chunk_rows < 1:
        parser.error("--chunk-rows must be a positive integer")
    return args


def check_header(columns: list[str], source: str, features: list[str]) -> None:
    absent = [c for c in features if c not in columns]
    if absent:
        raise InputError(f"{source}: missing model input column(s): {', '.join(absent)} "
                         "(is this folder the prepare step's output?)")
    if PREDICTION in columns:
        raise InputError(f"{source}: already has a '{PREDICTION}' column, which score adds: rename it")


def feature_matrix(chunk: pd.DataFrame, features: list[str], source: str, first_row: int) -> pd.DataFrame:
    """The signature columns as float64 (empty → NaN), in signature order."""
    matrix = {}
    for column in features:
        text = chunk[column].str.strip()
        numbers = pd.to_numeric(text.where(text != ""), errors="coerce")
        bad = numbers.isna() & (text != "")
        if bad.any():
            position = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{source}: column '{column}' must be numeric, but data row "
                             f"{first_row + position} holds {chunk[column].iloc[position]!r}")
        matrix[column] = numbers.astype("float64")
    return pd.DataFrame(matrix, index=chunk.index, columns=features)


def score_file(path: str, relative: str, predict, features: list[str], mode: str,
               out: OutputFolder, chunk_rows: int) -> int:
    out.begin(relative)
    rows = 0
    wrote_header = False
    for chunk in read_text_chunks(path, path, chunk_rows):
        matrix = feature_matrix(chunk, features, path, rows + 1)
        labels = as_labels(predict(matrix), path) if len(matrix) else np.empty(0, dtype="int64")
        if len(labels) != len(chunk):
            raise RuntimeError(f"{path}: the model returned {len(labels)} predictions for {len(chunk)} rows")
        if mode == "append":
            kept = chunk[[c for c in chunk.columns if c not in features]]
            result = kept.assign(**{PREDICTION: labels})
        else:
            result = pd.DataFrame({PREDICTION: labels}, index=chunk.index)
        out.append(result, header=not wrote_header)
        wrote_header = True
        rows += len(chunk)
    if not wrote_header:
        header = read_header(path, path)
        kept = [c for c in header if c not in features] if mode == "append" else []
        out.append(pd.DataFrame(columns=kept + [PREDICTION]), header=True)
    out.commit(relative)
    return rows


def run(args: argparse.Namespace) -> None:
    if args.score_mode not in SCORE_MODES:
        raise InputError(f"--score_mode {args.score_mode!r} is not accepted: use one of {', '.join(SCORE_MODES)}")
    files = list_csv_files(args.data, "--data")
    features = signature_inputs(read_mlmodel(args.model), args.model)
    for relative in files:
        path = os.path.join(args.data, relative)
        check_header(read_header(path, path), path, features)
    predict, loader = load_predict(args.model)
    progress(f"score: model loaded with {loader} loader from {args.model}")
    os.makedirs(args.scores, exist_ok=True)
    out = OutputFolder(args.scores)
    write_each("score", args.data, files, out,
               lambda path, relative: score_file(path, relative, predict, features, args.score_mode, out, args.chunk_rows),
               f" ({args.score_mode}) -> {args.scores}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_step("score", lambda: run(args), as_cli=argv is None)


if __name__ == "__main__":
    sys.exit(main())
