"""Folder-of-CSV plumbing shared by the prepare and score steps, and their two ways of running (contract C2):
as a command over a whole folder (run_folder) and as an Azure ML parallel entry script (run_items, called by
the script's run(mini_batch) once init() has loaded the model).

Each component's code folder is uploaded on its own, so this file exists twice, byte for byte:
components/prepare/src/csvfolder.py and components/score/src/csvfolder.py (a test keeps them equal).

Every cell is read as text: the steps copy input columns to their output unchanged, so nothing
may be re-typed on the way ("007" stays "007", "1.0" stays "1.0").
"""
from __future__ import annotations

import csv
import gc
import os
import signal
import sys
import traceback
import warnings
from typing import Callable, Iterator

import pandas as pd

CSV_SUFFIX = ".csv"
ENCODING = "utf-8-sig"  # accepts files with or without a byte-order mark


class InputError(Exception):
    """Bad input: the CLIs print it on stderr and exit 2."""


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def stop_on_sigterm() -> None:
    """Turn SIGTERM (a cancelled job, a stopped runner) into KeyboardInterrupt, so the step
    removes its partial output before it exits instead of dying mid-write."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, interrupt)


def list_csv_files(folder: str, flag: str) -> list[str]:
    """Relative paths of every CSV under folder, recursively, in sorted order.

    Other files and hidden entries (".name": tool droppings such as .amlignore or
    .ipynb_checkpoints) are skipped with a warning. `flag` names the CLI flag in messages.
    """
    if not os.path.exists(folder):
        raise InputError(f"{flag} {folder}: folder does not exist")
    if not os.path.isdir(folder):
        raise InputError(f"{flag} {folder}: not a folder (pass the folder that holds the CSV files)")
    found: list[str] = []
    seen_any = False
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in list(dirs):
            if name.startswith("."):
                dirs.remove(name)
                seen_any = True
                warn(f"skipping hidden folder {os.path.relpath(os.path.join(root, name), folder)}")
        for name in sorted(files):
            seen_any = True
            relative = os.path.relpath(os.path.join(root, name), folder)
            if name.startswith(".") or not name.lower().endswith(CSV_SUFFIX):
                warn(f"skipping {relative}: not a {CSV_SUFFIX} file")
                continue
            found.append(relative)
    if not seen_any:
        raise InputError(f"{flag} {folder}: folder is empty (expected one or more {CSV_SUFFIX} files)")
    if not found:
        raise InputError(f"{flag} {folder}: no {CSV_SUFFIX} file in the folder")
    return sorted(found, key=lambda p: p.split(os.sep))


def read_header(path: str, source: str) -> list[str]:
    """The column names of a CSV; refuses a file without a header or with repeated names."""
    try:
        with open(path, newline="", encoding=ENCODING) as handle:
            for row in csv.reader(handle):
                if row:  # blank lines before the header are skipped, as pandas does
                    break
            else:
                raise InputError(f"{source}: no header row (the file is empty)")
    except UnicodeDecodeError as error:
        raise InputError(f"{source}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except csv.Error as error:
        raise InputError(f"{source}: header is not valid CSV ({error})") from None
    names = [cell.strip() for cell in row]
    if any(name == "" for name in names):
        raise InputError(f"{source}: header has an empty column name (column {names.index('') + 1})")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(f"{source}: column name(s) repeated in the header: {', '.join(repeated)}")
    return names


def read_text_chunks(path: str, source: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The CSV as DataFrames of at most chunk_rows rows, every cell a str ("" when empty)."""
    try:
        # index_col=False: without it pandas silently turns the leading cells of a first data row
        # that is longer than the header into an index, shifting every value to the wrong column.
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, index_col=False,
                             encoding=ENCODING, chunksize=chunk_rows)
        with reader:
            while True:
                with warnings.catch_warnings():
                    # ... and with it, pandas would drop those extra cells with only a warning.
                    warnings.simplefilter("error", pd.errors.ParserWarning)
                    try:
                        chunk = next(reader)
                    except StopIteration:
                        break
                chunk.columns = [str(c).strip() for c in chunk.columns]
                yield chunk
    except pd.errors.ParserWarning:
        raise InputError(f"{source}: not valid CSV (the first data row has more fields than the header)") from None
    except pd.errors.ParserError as error:
        raise InputError(f"{source}: not valid CSV ({str(error).strip()})") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{source}: not UTF-8 text ({error.reason} at byte {error.start})") from None


class OutputFolder:
    """Writes output CSVs under a folder so that no half-written file is ever visible.

    Each file is written to a hidden temporary name beside its final one and renamed when
    complete. If the run fails, discard() also removes the files this run already finished,
    so a failed step leaves no output behind.
    """

    def __init__(self, folder: str):
        self.folder = folder
        self.finished: list[str] = []
        self.pending: str | None = None
        self.created: list[str] = []  # sub-folders this run made, removed again on failure

    def begin(self, relative: str) -> str:
        """The hidden temporary path to write `relative` to; commit() gives it its final name."""
        final = os.path.join(self.folder, relative)
        self._make_folders(os.path.dirname(final))
        head, name = os.path.split(final)
        self.pending = os.path.join(head, f".{name}.{os.getpid()}.partial")
        if os.path.exists(self.pending):
            os.remove(self.pending)
        return self.pending

    def _make_folders(self, folder: str) -> None:
        missing = []
        while not os.path.isdir(folder):
            missing.append(folder)
            folder = os.path.dirname(folder)
        for path in reversed(missing):
            try:
                os.mkdir(path)
            except FileExistsError:  # another worker made it meanwhile
                continue
            self.created.append(path)

    def abandon(self) -> None:
        """Removes the file being written (not the ones finished): a failed file of a mini-batch."""
        if self.pending:
            try:
                os.remove(self.pending)
            except FileNotFoundError:
                pass
        self.pending = None

    def commit(self, relative: str) -> None:
        assert self.pending is not None
        final = os.path.join(self.folder, relative)
        os.replace(self.pending, final)
        self.pending = None
        self.finished.append(final)

    def discard(self) -> None:
        for path in ([self.pending] if self.pending else []) + self.finished:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
        for path in reversed(self.created):
            try:
                os.rmdir(path)
            except OSError:  # not empty: something else is in it
                pass
        self.pending = None
        self.finished = []
        self.created = []


def write_each(step: str, data: str, files: list[str], out: "OutputFolder",
               write_one: Callable[[str, str], int], detail: str) -> None:
    """Runs write_one(path, relative) for each file in order, with progress; on any failure the
    output written so far is discarded, so no half-finished folder is left behind."""
    total = 0
    try:
        for relative in files:
            rows = write_one(os.path.join(data, relative), relative)
            total += rows
            progress(f"{step}: {relative}: {rows} rows")
    except BaseException:
        out.discard()
        raise
    progress(f"{step}: done: {len(files)} file(s), {total} rows{detail}")


def skipped(relative: str) -> bool:
    """Whether a file the parallel driver hands over is not a CSV input (skipped with a warning)."""
    name = os.path.basename(relative)
    if name.startswith(".") or not name.lower().endswith(CSV_SUFFIX):
        warn(f"skipping {relative}: not a {CSV_SUFFIX} file")
        return True
    return False


def run_items(step: str, data: str, items: list[str], out: OutputFolder,
              write_one: Callable[[str, str], int]) -> list[str]:
    """The body of a parallel entry script's run(mini_batch): each item is a path to one input file under
    the --data root; each output is written under the same relative path, atomically. Returns the
    relative path of every item (skipped ones too). A failure removes only the file being written."""
    root = os.path.realpath(data)
    done = []
    for item in items:
        path = os.path.realpath(item)
        relative = os.path.relpath(path, root)
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            raise InputError(f"{item}: not under --data {data}")
        if not skipped(relative):
            try:
                rows = write_one(path, relative)
            except BaseException:
                out.abandon()
                raise
            progress(f"{step}: {relative}: {rows} rows")
        done.append(relative)
    return done


class EntryScript:
    """The init() and run(mini_batch) of a parallel entry script (contract C2). `load()` reads the program
    arguments from sys.argv (beside the driver's own) and returns the worker: an object with .args.data
    (the input root), .out (its OutputFolder) and the method named `write_one` (path, relative) -> rows."""

    def __init__(self, step: str, load: Callable[[], object], write_one: str):
        self.step, self.load, self.write_one = step, load, write_one
        self.loaded = None

    def init(self) -> None:
        self.loaded = self.load()
        gc.freeze()  # what init() loaded is never collected: keep it out of every later collection

    def run(self, mini_batch: list[str]) -> list[str]:
        if self.loaded is None:
            raise RuntimeError(f"{self.step}: run() before init()")
        worker = self.loaded
        return run_items(self.step, worker.args.data, mini_batch, worker.out, getattr(worker, self.write_one))


def run_step(step: str, run: Callable[[], None], as_cli: bool) -> int:
    """The exit-code contract both steps share: 0 done, 2 bad input (the message names the file),
    130 interrupted (SIGTERM too, when run as the CLI), 1 anything else (a bug, with its traceback)."""
    if as_cli:  # a signal handler is process-wide: only when run as the command
        stop_on_sigterm()
    try:
        run()
    except InputError as error:
        print(f"{step}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{step}: interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - anything else is a bug, reported with its traceback
        traceback.print_exc()
        print(f"{step}: internal error (exit 1): the traceback above says where", file=sys.stderr)
        return 1
    return 0
