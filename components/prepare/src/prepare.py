"""prepare step: applies the fitted UCI Heart transformer to every CSV in a folder.

    python prepare.py --data DIR --transformations DIR --prepared_data DIR [--chunk-rows N]

Also an Azure ML parallel entry script (contract C2): init() reads the same arguments from sys.argv and
loads the transformer; run(mini_batch) prepares each listed file.

For each input CSV (recursively, sorted, same relative name) it writes one prepared-data file (handoff.py,
private to the pipeline): the input records as the score step will write them, and the transformed
features as exact float64, named as the ColumnTransformer names them (num__age, ..., cat__thal); the
classifier's signature uses those names. Files are processed one at a time and in chunks of --chunk-rows
rows, so memory stays flat.

Categorical values outside the documented codes (heart_codes.py) are mapped where the mapping is certain,
otherwise scored as missing; either way one warning per file, column, value and kind, with the row count.

Exit codes: 0 success; 2 bad input (message on stderr names the file, column, data row and value);
1 unexpected internal error; 130 interrupted. On any failure no output file is left behind.
"""
from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the code folder that gets uploaded

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pickle  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from csvfolder import (EntryScript, InputError, OutputFolder, list_csv_files, read_header,  # noqa: E402
                       run_step, warn, write_each)
from feature_table import FeatureTransform  # noqa: E402
from handoff import PreparedWriter  # noqa: E402
from heart_codes import MAPPED, UNSEEN, category_value  # noqa: E402
from heart_features import (CATEGORICAL, CONTINUOUS, PREDICTION, REQUIRED, continuous_numbers,  # noqa: E402
                            missing_columns, not_numeric)
from records import read_chunks  # noqa: E402

TRANSFORMER_FILE = "transformations.pkl"
VERSIONS_FILE = "transformations.json"
DEFAULT_CHUNK_ROWS = 100_000
UNTRAINED = "untrained"  # a documented (or mapped) value the fitted transformer never saw
MAX_REPORTED_VALUES = 20  # per column and file; the rest are summed up in one line


def parse_args(argv: list[str], known_only: bool = False) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="prepare.py", description="Apply the fitted UCI Heart transformer to every CSV in a folder.")
    parser.add_argument("--data", required=True, help="folder of input CSV files (searched recursively)")
    parser.add_argument("--transformations", required=True,
                        help=f"folder holding {TRANSFORMER_FILE} (model heart-classifier-transforms)")
    parser.add_argument("--prepared_data", required=True, help="output folder: one file per input file, same names")
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS,
                        help=f"rows read and transformed at a time (default {DEFAULT_CHUNK_ROWS})")
    args = parser.parse_known_args(argv)[0] if known_only else parser.parse_args(argv)
    if args.chunk_rows < 1:
        parser.error("--chunk-rows must be a positive integer")
    return args


def _installed_versions() -> dict[str, str]:
    import sklearn
    return {"numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__}


def load_transformer(folder: str):
    """The fitted ColumnTransformer."""
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
            return pickle.load(handle)
    except Exception as error:  # noqa: BLE001 - a broken or foreign pickle is an input problem
        raise InputError(f"{path}: could not be loaded ({type(error).__name__}: {error})") from None


def check_header(columns: list[str], source: str, feature_names: list[str]) -> None:
    absent = missing_columns(columns)
    if absent:
        raise InputError(f"{source}: missing required column(s): {', '.join(absent)} "
                         f"(columns found: {', '.join(columns)})")
    reserved = [c for c in columns if c == PREDICTION or c in feature_names]
    if reserved:
        raise InputError(f"{source}: column name(s) {', '.join(reserved)} are reserved for the output "
                         f"({PREDICTION!r} is added by the score step, the others by prepare): rename them")


def _documented(column: str) -> str:
    """' (1-4)'-style hint of a column's documented codes, when heart_codes offers one."""
    import heart_codes
    describe = getattr(heart_codes, "documented_codes", None)
    try:
        text = describe(column) if callable(describe) else None
    except Exception:  # noqa: BLE001 - only a hint in a message
        text = None
    return f" ({text})" if text else ""


class CodeWarnings:
    """Row counts of categorical values that are not documented codes, or that training never saw, in one
    file; reported once per column, value and kind (contract C1)."""

    def __init__(self, source: str):
        self.source = source
        self.counts: dict[tuple[str, str, str], int] = {}
        self.read_as: dict[tuple[str, str, str], object] = {}
        self.others: dict[str, int] = {}

    def add(self, column: str, text: str, kind: str, value, rows: int) -> None:
        key = (column, text, kind)
        if key not in self.counts and sum(1 for k in self.counts if k[0] == column) >= MAX_REPORTED_VALUES:
            self.others[column] = self.others.get(column, 0) + rows
            return
        self.counts[key] = self.counts.get(key, 0) + rows
        self.read_as[key] = value

    def report(self) -> None:
        for column in CATEGORICAL:
            for (name, text, kind), rows in self.counts.items():
                if name != column:
                    continue
                head = f"{self.source}: column '{column}' value {text!r} ({rows} row{'s' if rows != 1 else ''})"
                if kind == MAPPED:
                    warn(f"{head} is not a documented code{_documented(column)}: read as {self.read_as[(name, text, kind)]!r}")
                elif kind == UNSEEN:
                    warn(f"{head} is not a documented code{_documented(column)}: scored as missing")
                else:
                    warn(f"{head} was never seen in training: scored as missing")
            if column in self.others:
                warn(f"{self.source}: column '{column}': {self.others[column]} more row(s) with other values "
                     "outside the documented codes or unseen in training: scored as missing or mapped")


class Preparer:
    """What init() loads once: the transformer, and the step's arguments."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.transform = FeatureTransform(load_transformer(args.transformations), REQUIRED, set(CATEGORICAL))
        self.out = OutputFolder(args.prepared_data)

    def header(self, path: str) -> list[str]:
        columns = read_header(path, path)
        check_header(columns, path, self.transform.names)
        return columns

    def _values(self, chunk, source: str, warnings: CodeWarnings) -> tuple[dict, dict]:
        values, codes = {}, {}
        for column in REQUIRED:
            spellings, codes[column] = chunk.columns[column]
            if column in CONTINUOUS:
                numbers, bad = continuous_numbers(pd.Series(spellings, dtype=object))
                if bad.any():
                    position = int(np.flatnonzero(bad[codes[column]])[0])
                    raise not_numeric(source, column, chunk.first_row + position,
                                      spellings[codes[column][position]])
                values[column] = numbers
            else:
                read = [category_value(column, text) for text in spellings]
                values[column] = np.array([value for value, _ in read], dtype=object)
                rows = None
                for index, (text, (value, kind)) in enumerate(zip(spellings, read)):
                    if kind in (MAPPED, UNSEEN):
                        rows = np.bincount(codes[column], minlength=len(spellings)) if rows is None else rows
                        warnings.add(column, text, kind, value, int(rows[index]))
        return values, codes

    def _untrained(self, values: dict, table, codes: dict, warnings: CodeWarnings, spellings: dict) -> None:
        """Values given to the transformer that it turns into missing (never seen in training)."""
        if table is None:
            return
        for j, source in enumerate(self.transform.sources):
            if source not in CATEGORICAL:
                continue
            known = values[source]
            for index in range(len(known)):
                if not pd.isna(known[index]) and np.isnan(table[index, j]):
                    rows = int(np.count_nonzero(codes[source] == index))
                    warnings.add(source, spellings[source][index], UNTRAINED, known[index], rows)

    def prepare_file(self, path: str, relative: str) -> int:
        columns = self.header(path)
        pending = self.out.begin(relative)
        warnings = CodeWarnings(relative)  # named as in contract C1: the path under --data
        with open(pending, "wb") as handle:
            writer = PreparedWriter(handle, columns, self.transform.names)
            for chunk in read_chunks(path, path, columns, REQUIRED, self.args.chunk_rows):
                values, codes = self._values(chunk, path, warnings)
                segment, table = self.transform.transform(values, codes, chunk.rows)
                self._untrained(values, table, codes, warnings, {c: chunk.columns[c][0] for c in CATEGORICAL})
                writer.write(segment, chunk.ends, chunk.text)
                del chunk, values, codes, segment, table
            writer.close()
        warnings.report()
        if writer.rows == 0:
            warn(f"{path}: header only, no data rows: writing a header-only output")
        self.out.commit(relative)
        return writer.rows


# Azure ML's parallel run (and the local driver) calls these two: init() once per worker, run() per mini-batch.
_entry = EntryScript("prepare", lambda: Preparer(parse_args(sys.argv[1:], known_only=True)), "prepare_file")
init = _entry.init
run = _entry.run


def run_folder(args: argparse.Namespace, as_cli: bool) -> None:
    files = list_csv_files(args.data, "--data")
    preparer = Preparer(args)
    if as_cli:
        gc.freeze()
    # Check every header before writing anything: most bad inputs then leave no output at all.
    for relative in files:
        preparer.header(os.path.join(args.data, relative))
    os.makedirs(args.prepared_data, exist_ok=True)
    write_each("prepare", args.data, files, preparer.out, preparer.prepare_file, f" -> {args.prepared_data}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_step("prepare", lambda: run_folder(args, argv is None), as_cli=argv is None)


if __name__ == "__main__":
    sys.exit(main())
