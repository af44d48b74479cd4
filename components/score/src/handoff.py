"""The prepared-data file that prepare writes and score reads: private to the pipeline.

Each code folder is uploaded on its own, so this file exists twice, byte for byte:
components/prepare/src/handoff.py and components/score/src/handoff.py (a test keeps them equal).

One prepared file per input CSV, at the same relative path. Layout (little-endian):
    MAGIC
    one JSON line: {"columns": [input column names], "features": [transformer output names]}
    segments, each: int64 rows, int64 text bytes, int64 layout; then the features:
        layout 0 (dense):  float64 rows x features, C order;
        layout 1 (coded):  per feature: int64 table length, int64 code width (1, 2, 4 or 8 bytes),
                           float64 table, unsigned code per row: feature value of row i = table[code[i]];
      then int64 record ends (rows), then the records' text
    trailer:  int64 -1, int64 total rows, int64 0
The text holds the input records exactly as the score step writes them in append mode, each already ending
in ",0\n"; record end i is the offset of record i's final newline, so score only writes the prediction digit
at ends[i] - 1. The features are the transformer's float64 output, exact (no float formatting on the way);
coded, they are a few hundred distinct values per column and a small integer per cell.
"""
from __future__ import annotations

import csv
import io
import json
import struct
from typing import BinaryIO, Iterator

import numpy as np

MAGIC = b"heart-prepared 1\n"
_SEGMENT = struct.Struct("<qqq")
_TABLE = struct.Struct("<qq")
_TRAILER_MARK = -1
DENSE, CODED = 0, 1


class NotPrepared(Exception):
    """The file is not (or not a complete) prepared-data file."""


class Segment:
    """One chunk of rows: the features (dense matrix, or per feature a table and a code per row)."""

    def __init__(self, rows: int, dense: np.ndarray | None = None,
                 coded: list[tuple[np.ndarray, np.ndarray]] | None = None):
        self.rows, self.dense, self.coded = rows, dense, coded

    def matrix(self, order: list[int]) -> np.ndarray:
        """float64 (rows x len(order)): the features at those indices, in that order."""
        if self.dense is not None:
            return self.dense[:, order]
        out = np.empty((self.rows, len(order)), dtype=np.float64)
        for k, j in enumerate(order):
            table, codes = self.coded[j]
            out[:, k] = table[codes]
        return out


def _code_type(distinct: int) -> np.dtype:
    for dtype in ("<u1", "<u2", "<u4"):
        if distinct <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    return np.dtype("<u8")


class PreparedWriter:
    def __init__(self, handle: BinaryIO, columns: list[str], features: list[str]):
        self.handle = handle
        self.width = len(features)
        self.rows = 0
        handle.write(MAGIC)
        handle.write(json.dumps({"columns": columns, "features": features}).encode("utf-8") + b"\n")

    def write(self, segment: Segment, ends: np.ndarray, text: bytes) -> None:
        rows = len(ends)
        assert segment.rows == rows
        layout = DENSE if segment.dense is not None else CODED
        self.handle.write(_SEGMENT.pack(rows, len(text), layout))
        if layout == DENSE:
            assert segment.dense.shape == (rows, self.width)
            self.handle.write(np.ascontiguousarray(segment.dense, dtype="<f8").tobytes())
        else:
            assert len(segment.coded) == self.width
            for table, codes in segment.coded:
                dtype = _code_type(len(table))
                self.handle.write(_TABLE.pack(len(table), dtype.itemsize))
                self.handle.write(np.ascontiguousarray(table, dtype="<f8").tobytes())
                self.handle.write(codes.astype(dtype, copy=False).tobytes())
        self.handle.write(np.ascontiguousarray(ends, dtype="<i8").tobytes())
        self.handle.write(text)
        self.rows += rows

    def close(self) -> None:
        self.handle.write(_SEGMENT.pack(_TRAILER_MARK, self.rows, 0))


def _read_exact(handle: BinaryIO, size: int) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise NotPrepared("the file is cut short")
    return data


def read_meta(handle: BinaryIO) -> dict:
    """The header of a prepared file; raises NotPrepared if it does not start like one."""
    if handle.read(len(MAGIC)) != MAGIC:
        raise NotPrepared("not a prepared-data file")
    try:
        meta = json.loads(handle.readline())
        columns, features = list(meta["columns"]), list(meta["features"])
    except (ValueError, KeyError, TypeError):
        raise NotPrepared("the prepared-data header is damaged") from None
    return {"columns": columns, "features": features}


def _array(handle: BinaryIO, dtype: str, count: int) -> np.ndarray:
    return np.frombuffer(_read_exact(handle, count * np.dtype(dtype).itemsize), dtype=dtype)


def read_segments(handle: BinaryIO, width: int) -> Iterator[tuple[Segment, np.ndarray, bytearray]]:
    """(features, record ends, writable text) per segment, after read_meta; checks the trailer."""
    total = 0
    while True:
        rows, size, layout = _SEGMENT.unpack(_read_exact(handle, _SEGMENT.size))
        if rows == _TRAILER_MARK:
            if size != total:
                raise NotPrepared(f"the trailer counts {size} rows, the segments {total}")
            return
        if rows < 0 or size < 0 or layout not in (DENSE, CODED):
            raise NotPrepared("a segment header is damaged")
        if layout == DENSE:
            segment = Segment(rows, dense=_array(handle, "<f8", rows * width).reshape(rows, width))
        else:
            coded = []
            for _ in range(width):
                length, itemsize = _TABLE.unpack(_read_exact(handle, _TABLE.size))
                if length < 0 or itemsize not in (1, 2, 4, 8):
                    raise NotPrepared("a feature table header is damaged")
                coded.append((_array(handle, "<f8", length), _array(handle, f"<u{itemsize}", rows)))
            segment = Segment(rows, coded=coded)
        ends = _array(handle, "<i8", rows)
        text = bytearray(size)
        if handle.readinto(text) != size:
            raise NotPrepared("the file is cut short")
        total += rows
        yield segment, ends, text


def csv_line(cells: list[str]) -> bytes:
    """One record as pandas to_csv writes it (csv module, minimal quoting, "\\n" line end)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue().encode("utf-8")
