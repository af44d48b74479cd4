"""score step: runs the MLflow XGBoost classifier on every prepared file in a folder.

    python score.py --data DIR --model DIR --score_mode append|prediction_only --scores DIR [--chunk-rows N]

Also an Azure ML parallel entry script (contract C2): init() reads the same arguments from sys.argv and
loads the model; run(mini_batch) scores each listed prepared file.

For each prepared file (the prepare step's output, handoff.py; recursively, sorted, same relative name) it
writes one CSV, rows in input order: append -> the input columns, unchanged, then `prediction` (0/1);
prediction_only -> `prediction` alone. The bytes are those pandas `to_csv` writes for the input read as
text. The model reads the feature columns named in its MLmodel signature. Files are processed one at a time
and in chunks, so memory stays flat.

Exit codes: 0 success; 2 bad input or usage (message on stderr names the file/flag and columns);
1 unexpected internal error; 130 interrupted. On any failure no output file is left behind.
"""
from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the code folder that gets uploaded

import argparse  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from csvfolder import (EntryScript, InputError, OutputFolder, list_csv_files, progress, run_step,  # noqa: E402
                       write_each)
from handoff import NotPrepared, csv_line, read_meta, read_segments  # noqa: E402
from model_loader import as_labels, load_predict, read_mlmodel, signature_inputs  # noqa: E402

SCORE_MODES = ("append", "prediction_only")
PREDICTION = "prediction"
DEFAULT_CHUNK_ROWS = 100_000
_ZERO = ord("0")


def parse_args(argv: list[str], known_only: bool = False) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="score.py", description="Score every prepared file in a folder with the MLflow classifier.")
    parser.add_argument("--data", required=True, help="folder of prepared files (the prepare step's output)")
    parser.add_argument("--model", required=True, help="MLflow model folder (MLmodel + native model)")
    parser.add_argument("--score_mode", default="append",
                        help=f"one of: {', '.join(SCORE_MODES)} (default append)")
    parser.add_argument("--scores", required=True, help="output folder: one CSV per input file, same names")
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS,
                        help=f"rows given to the model at a time (default {DEFAULT_CHUNK_ROWS})")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads the model may use per process (default 1: the parallel step runs one process "
                             "per core; 0: XGBoost's default, every core)")
    args = parser.parse_known_args(argv)[0] if known_only else parser.parse_args(argv)
    if args.chunk_rows < 1:
        parser.error("--chunk-rows must be a positive integer")
    if args.threads < 0:
        parser.error("--threads must be 0 or more")
    return args


def read_prepared_meta(handle, source: str, features: list[str]) -> dict:
    """The prepared file's header, checked against the model's signature."""
    try:
        meta = read_meta(handle)
    except NotPrepared as error:
        raise InputError(f"{source}: {error}, not the prepare step's output (is --data the prepared folder?)") from None
    absent = [c for c in features if c not in meta["features"]]
    if absent:
        raise InputError(f"{source}: missing model input column(s): {', '.join(absent)} "
                         f"(the transformer gives {', '.join(meta['features'])}: do the two models belong together?)")
    if PREDICTION in meta["columns"]:
        raise InputError(f"{source}: already has a '{PREDICTION}' column, which score adds: rename it")
    return meta


class Scorer:
    """What init() loads once: the model, its signature, and the step's arguments."""

    def __init__(self, args: argparse.Namespace, check_first: list[str] = ()):
        if args.score_mode not in SCORE_MODES:
            raise InputError(f"--score_mode {args.score_mode!r} is not accepted: use one of {', '.join(SCORE_MODES)}")
        self.args = args
        self.features = signature_inputs(read_mlmodel(args.model), args.model)
        for path in check_first:  # before the (slow) model load, so bad input is refused quickly
            with open(path, "rb") as handle:
                read_prepared_meta(handle, path, self.features)
        self.predict, loader = load_predict(args.model, threads=args.threads or None)
        progress(f"score: model loaded with {loader} loader from {args.model}")
        self.out = OutputFolder(args.scores)

    def _labels(self, matrix: np.ndarray, source: str) -> np.ndarray:
        labels = np.empty(len(matrix), dtype=np.int64)
        step = self.args.chunk_rows
        for first in range(0, len(matrix), step):
            frame = pd.DataFrame(matrix[first:first + step], columns=self.features, copy=False)
            part = as_labels(self.predict(frame), source)
            if len(part) != len(frame):
                raise RuntimeError(f"{source}: the model returned {len(part)} predictions for {len(frame)} rows")
            labels[first:first + step] = part
        return labels

    def score_file(self, path: str, relative: str) -> int:
        append = self.args.score_mode == "append"
        rows = 0
        with open(path, "rb") as source:
            meta = read_prepared_meta(source, path, self.features)
            order = [meta["features"].index(c) for c in self.features]
            pending = self.out.begin(relative)
            with open(pending, "wb") as handle:
                handle.write(csv_line(meta["columns"] + [PREDICTION] if append else [PREDICTION]))
                try:
                    for segment, ends, text in read_segments(source, len(meta["features"])):
                        labels = self._labels(segment.matrix(order), path)
                        if append:
                            np.frombuffer(text, dtype=np.uint8)[ends - 1] = _ZERO + labels
                            handle.write(text)
                        else:
                            lines = np.full(2 * len(labels), ord("\n"), dtype=np.uint8)
                            lines[0::2] = _ZERO + labels
                            handle.write(lines.tobytes())
                        rows += len(labels)
                        del segment, ends, text, labels
                except NotPrepared as error:
                    raise InputError(f"{path}: {error}, not a complete prepared file (run prepare again)") from None
        self.out.commit(relative)
        return rows


# Azure ML's parallel run (and the local driver) calls these two: init() once per worker, run() per mini-batch.
_entry = EntryScript("score", lambda: Scorer(parse_args(sys.argv[1:], known_only=True)), "score_file")
init = _entry.init
run = _entry.run


def run_folder(args: argparse.Namespace, as_cli: bool) -> None:
    if args.score_mode not in SCORE_MODES:
        raise InputError(f"--score_mode {args.score_mode!r} is not accepted: use one of {', '.join(SCORE_MODES)}")
    files = list_csv_files(args.data, "--data")
    scorer = Scorer(args, [os.path.join(args.data, relative) for relative in files])
    if as_cli:
        gc.freeze()
    os.makedirs(args.scores, exist_ok=True)
    write_each("score", args.data, files, scorer.out, scorer.score_file,
               f" ({args.score_mode}) -> {args.scores}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_step("score", lambda: run_folder(args, argv is None), as_cli=argv is None)


if __name__ == "__main__":
    sys.exit(main())
