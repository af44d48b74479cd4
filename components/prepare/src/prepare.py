"""prepare step: applies the fitted UCI Heart transformer to every CSV in a folder.

    python prepare.py --data DIR --transformations DIR --prepared_data DIR [--chunk-rows N]

For each input CSV (recursively, sorted, same relative name) it writes one CSV holding the input
columns exactly as read (text) followed by the transformed feature columns, named as the
ColumnTransformer names them (num__age, ..., cat__thal); the classifier's signature uses those names.
Files are processed one at a time and in chunks of --chunk-rows rows, so memory stays flat.

Exit codes: 0 success; 2 bad input (message on stderr names the file, column and row);
1 unexpected internal error; 130 interrupted. On any failure no output file is left behind.
"""
from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the code folder that gets uploaded

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pickle  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from csvfolder import (InputError, OutputFolder, list_csv_files,  # noqa: E402
                       read_header, read_text_chunks, run_step, write_each, warn)
from heart_features import CATEGORICAL, PREDICTION, build_features, missing_columns  # noqa: E402

TRANSFORMER_FILE = "transformations.pkl"
VERSIONS_FILE = "transformations.json"
DEFAULT_CHUNK_ROWS = 100_000


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="prepare.py", description="Apply the fitted UCI Heart transformer to every CSV in a folder.")
    parser.add_argument("--data", required=True, help="folder of input CSV files (searched recursively)")
    parser.add_argument("--transformations", required=True,
                        help=f"folder holding {TRANSFORMER_FILE} (model heart-classifier-transforms)")
    parser.add_argument("--prepared_data", required=True, help="output folder: one CSV per input file, same names")
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS,
                        help=f"rows read and transformed at a time (default {DEFAULT_CHUNK_ROWS})")
    args = parser.parse_args(argv)
    if args.chunk_rows < 1:
        parser.error("--chunk-rows must be a positive integer")
    return args


def _installed_versions() -> dict[str, str]:
    import sklearn
    return {"numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__}


def load_transformer(folder: str):
    """The fitted ColumnTransformer and its output column names."""
    path = os.path.join(folder, TRANSFORMER_FILE)
    if not os.path.isfile(path):
        raise InputError(f"--transformations {folder}: no {TRANSFORMER_FILE} in the folder "
                         "(expected the heart-classifier-transforms model folder)")
    versions_path = os.path.join(folder, VERSIONS_FILE)
    if os.path.isfile(versions_path):
        with open(versions_path, encoding="utf-8") as handle:
            produced = json.load(handle).get("producedWith", {})
        for name, installed in _installed_versions().items():
            if produced.get(name) not in (None, installed):
                warn(f"{TRANSFORMER_FILE} was written with {name} {produced[name]}, this is {installed}: "
                     "a pickled transformer may load wrongly under another version")
    try:
        with open(path, "rb") as handle:
            transformer = pickle.load(handle)
    except Exception as error:  # noqa: BLE001 - a broken or foreign pickle is an input problem
        raise InputError(f"{path}: could not be loaded ({type(error).__name__}: {error})") from None
    return transformer, [str(name) for name in transformer.get_feature_names_out()]


def check_header(columns: list[str], source: str, feature_names: list[str]) -> None:
    absent = missing_columns(columns)
    if absent:
        raise InputError(f"{source}: missing required column(s): {', '.join(absent)} "
                         f"(columns found: {', '.join(columns)})")
    reserved = [c for c in columns if c == PREDICTION or c in feature_names]
    if reserved:
        raise InputError(f"{source}: column name(s) {', '.join(reserved)} are reserved for the output "
                         f"({PREDICTION!r} is added by the score step, the others by prepare): rename them")


def _known_categories(transformer) -> dict[str, set]:
    """Categories seen in training per categorical column, to report unseen values.

    Only a report: if the transformer is shaped differently, nothing is reported.
    """
    try:
        for name, step, columns in transformer.transformers_:
            if name == "cat":
                encoder = step[-1] if hasattr(step, "steps") else step
                return {c: set(cats) for c, cats in zip(columns, encoder.categories_)}
    except (AttributeError, TypeError, ValueError):
        pass
    return {}


class UnseenValues:
    """Counts categorical values never seen in training (they are scored as missing)."""

    def __init__(self, known: dict[str, set]):
        self.known = known
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list] = {}

    def add(self, features: pd.DataFrame) -> None:
        for column, known in self.known.items():
            values = features[column].dropna()
            unseen = values[~values.isin(known)]
            if len(unseen):
                self.counts[column] = self.counts.get(column, 0) + len(unseen)
                examples = self.examples.setdefault(column, [])
                for value in unseen.unique():
                    if len(examples) < 3 and value not in examples:
                        examples.append(value)

    def report(self, source: str) -> None:
        for column in CATEGORICAL:
            if column in self.counts:
                shown = ", ".join(repr(v) for v in self.examples[column])
                warn(f"{source}: column '{column}': {self.counts[column]} value(s) never seen in training "
                     f"(e.g. {shown}), scored as missing")


def transform_chunk(transformer, feature_names: list[str], chunk: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    if len(features):
        values = np.asarray(transformer.transform(features), dtype="float64")
    else:  # scikit-learn refuses zero rows; a header-only input still gets the full header
        values = np.empty((0, len(feature_names)), dtype="float64")
    transformed = pd.DataFrame(values, columns=feature_names, index=chunk.index)
    return pd.concat([chunk, transformed], axis=1)


def prepare_file(path: str, relative: str, transformer, feature_names: list[str], known: dict[str, set],
                 out: OutputFolder, chunk_rows: int) -> int:
    source = path
    out.begin(relative)
    rows = 0
    unseen = UnseenValues(known)
    wrote_header = False
    for chunk in read_text_chunks(path, source, chunk_rows):
        features = build_features(chunk, source, first_row=rows + 1)
        unseen.add(features)
        out.append(transform_chunk(transformer, feature_names, chunk, features), header=not wrote_header)
        wrote_header = True
        rows += len(chunk)
    if not wrote_header:
        header = read_header(path, source)
        out.append(pd.DataFrame(columns=header + feature_names), header=True)
    unseen.report(source)
    if rows == 0:
        warn(f"{source}: header only, no data rows: writing a header-only output")
    out.commit(relative)
    return rows


def run(args: argparse.Namespace) -> None:
    files = list_csv_files(args.data, "--data")
    transformer, feature_names = load_transformer(args.transformations)
    known = _known_categories(transformer)
    # Check every header before writing anything: most bad inputs then leave no output at all.
    for relative in files:
        path = os.path.join(args.data, relative)
        check_header(read_header(path, path), path, feature_names)
    os.makedirs(args.prepared_data, exist_ok=True)
    out = OutputFolder(args.prepared_data)
    write_each("prepare", args.data, files, out,
               lambda path, relative: prepare_file(path, relative, transformer, feature_names, known, out, args.chunk_rows),
               f" -> {args.prepared_data}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_step("prepare", lambda: run(args), as_cli=argv is None)


if __name__ == "__main__":
    sys.exit(main())
