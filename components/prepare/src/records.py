"""Reads an input CSV as chunks of records: per wanted column the distinct spellings and a code per row,
plus the records' text exactly as the score step's output writes them (pandas `to_csv` of the cells read
as text), each record ending in ",0\\n" for the prediction digit.

Two readers, the same results:
- the fast one, for the files almost every batch is (no quote character, no carriage return other than
  in CRLF line ends): lines are split on bytes with numpy, each distinct spelling of a column is found
  by hashing its bytes (never a Python object per cell), and the output text is the input line itself,
  which is what `to_csv` would write for such a line (blank lines dropped and short rows padded with
  empty cells, as pandas reads them);
- the general one (pandas, every cell as text, then the csv module formats each record as `to_csv`
  does), for quoted fields, embedded newlines and lone carriage returns.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import BinaryIO, Iterator

import numpy as np
import pandas as pd

from csvfolder import InputError, read_text_chunks

BLOCK_BYTES = 1 << 21  # about 50,000 rows of this schema: small enough that memory does not depend on file size
PLACEHOLDER = b",0\n"  # the prediction column, digit patched by score
_BOM = b"\xef\xbb\xbf"
_COMMA, _NEWLINE = ord(","), ord("\n")
_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)  # the first n bytes of a word


@dataclass
class Chunk:
    first_row: int                                   # 1-based data row number of the first record
    rows: int
    columns: dict[str, tuple[list[str], np.ndarray]]  # column -> (distinct spellings, code per row)
    text: bytes                                      # the records, each ending in PLACEHOLDER
    ends: np.ndarray                                 # offset of each record's final "\n" in text


def read_chunks(path: str, source: str, header: list[str], wanted: list[str], chunk_rows: int) -> Iterator[Chunk]:
    if _needs_general_reader(path, len(header)):
        return _general_chunks(path, source, header, wanted, chunk_rows)
    return _fast_chunks(path, source, header, wanted, chunk_rows)


# ------------------------------------------------------------------------------------------- fast reader

def _blocks(handle: BinaryIO, first: bytes = b"") -> Iterator[bytes]:
    """The file's bytes in blocks of whole lines, each at most BLOCK_BYTES long unless one line is longer
    (the last one given its missing newline). Same-sized blocks keep the memory the same for any file."""
    carry = first
    while True:
        more = handle.read(max(BLOCK_BYTES - len(carry), 0) or BLOCK_BYTES)
        data = carry + more if carry else more
        if not more:
            if data:
                yield data if data.endswith(b"\n") else data + b"\n"
            return
        cut = data.rfind(b"\n", 0, BLOCK_BYTES) + 1 or data.rfind(b"\n") + 1
        if cut == 0:  # no line end yet: a line longer than a block
            carry = data
            continue
        carry = data[cut:]
        yield data[:cut]


def _needs_general_reader(path: str, fields: int) -> bool:
    """Quotes, lone carriage returns, or a first data row longer than the header (pandas then reads a
    trailing delimiter as an extra empty column on every row): cases the fast reader leaves to pandas."""
    with open(path, "rb") as handle:
        rest, _ = _skip_header(handle)
        first = True
        for block in _blocks(handle, rest):
            if b'"' in block or (b"\r" in block and block.count(b"\r") != block.count(b"\r\n")):
                return True
            if first:
                line = next((x for x in block.split(b"\n", 64) if x.strip(b" \t\r")), None)
                if line is not None:
                    first = False
                    if line.count(b",") >= fields:
                        return True
    return False


def _skip_header(handle: BinaryIO) -> tuple[bytes, int]:
    """Reads past the BOM, blank lines and the header line: (the bytes read after it, lines consumed)."""
    data = b""
    lines = 0
    while True:
        more = handle.read(BLOCK_BYTES)
        data += more[len(_BOM):] if lines == 0 and not data and more.startswith(_BOM) else more
        while data.startswith((b"\n", b"\r\n")):
            data = data[1:] if data.startswith(b"\n") else data[2:]
            lines += 1
        cut = data.find(b"\n")
        if cut >= 0:
            return data[cut + 1:], lines + 1
        if not more:
            return b"", lines + 1


def _utf8_or_refuse(block: bytes, source: str, offset: int) -> None:
    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InputError(f"{source}: not UTF-8 text ({error.reason} at byte {offset + error.start})") from None


def _regular_lines(block: bytes, fields: int, source: str, first_line: int, first_row: int) -> bytes:
    """The block with blank lines dropped and short rows padded, as pandas reads them; a row longer than
    the header is refused as pandas refuses it."""
    kept = []
    for number, line in enumerate(block.split(b"\n")[:-1], start=first_line):
        count = line.count(b",") + 1
        if count == fields:
            kept.append(line)
        elif line.strip(b" \t") == b"":
            continue  # pandas skips blank and whitespace-only lines
        elif count < fields:
            kept.append(line + b"," * (fields - count))
        elif first_row + len(kept) == 1:
            raise InputError(f"{source}: not valid CSV (the first data row has more fields than the header)")
        else:
            raise InputError(f"{source}: not valid CSV (Error tokenizing data. C error: Expected {fields} fields "
                             f"in line {number}, saw {count})")
    return b"\n".join(kept) + b"\n" if kept else b""


def _spellings(padded: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Distinct byte strings padded[start:start+length] and a code per row, by exact 8-byte-word keys."""
    rows = len(starts)
    # Every byte offset as the start of a little-endian uint64 (unaligned, stride one byte): one gather
    # reads a field's first eight bytes.
    words = np.ndarray(shape=(len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    codes = np.zeros(rows, dtype=np.int64)
    distinct = 1
    longest = int(lengths.max()) if rows else 0
    for offset in range(0, max(longest, 1), 8):
        at = np.minimum(starts + offset, len(words) - 1) if offset else starts  # shorter fields: masked below
        word = words[at]
        word &= _MASKS[np.clip(lengths - offset, 0, 8) if offset else np.minimum(lengths, 8)]
        part, keys = pd.factorize(word)
        codes, uniques = pd.factorize(codes * len(keys) + part) if offset else (part, keys)
        distinct = len(uniques)
    first = np.empty(distinct, dtype=np.int64)
    first[codes[::-1]] = np.arange(rows - 1, -1, -1)  # the first row holding each code
    texts = [padded[s:s + n].tobytes().decode("utf-8") for s, n in zip(starts[first].tolist(), lengths[first].tolist())]
    return texts, codes


def _separators(array: np.ndarray) -> np.ndarray:
    """Offsets of every comma and newline."""
    found = array == _COMMA
    np.logical_or(found, array == _NEWLINE, out=found)
    return np.flatnonzero(found)


def _fast_chunks(path: str, source: str, header: list[str], wanted: list[str], chunk_rows: int) -> Iterator[Chunk]:
    fields = len(header)
    where = [header.index(c) for c in wanted]
    row = 1
    with open(path, "rb") as handle:
        rest, line = _skip_header(handle)
        offset = handle.tell() - len(rest)
        for block in _blocks(handle, rest):
            size, lines = len(block), block.count(b"\n")
            _utf8_or_refuse(block, source, offset)
            if b"\r" in block:
                block = block.replace(b"\r\n", b"\n")
            array = np.frombuffer(block, dtype=np.uint8)
            seps = _separators(array)
            # `lines` newlines among lines * fields separators, every fields-th one a newline: each line
            # holds exactly fields - 1 commas.
            if len(seps) != lines * fields or not (array[seps[fields - 1::fields]] == _NEWLINE).all():
                block = _regular_lines(block, fields, source, line + 1, row)
                array = np.frombuffer(block, dtype=np.uint8)
                seps = _separators(array)
            padded = np.concatenate([array, np.zeros(8, dtype=np.uint8)])
            ends = seps.reshape(-1, fields).T.copy()  # field j of every line, contiguous
            del seps
            for first in range(0, ends.shape[1], chunk_rows):
                line_start = int(ends[-1, first - 1]) + 1 if first else 0
                yield _fast_chunk(block, padded, ends[:, first:first + chunk_rows], line_start, where, wanted, row)
                row += min(chunk_rows, ends.shape[1] - first)
            offset += size
            line += lines


def _fast_chunk(block: bytes, padded: np.ndarray, ends: np.ndarray, line_start: int, where: list[int],
                wanted: list[str], row: int) -> Chunk:
    """ends[j, i]: offset of the separator after field j of line i."""
    rows = ends.shape[1]
    line_ends = ends[-1]
    columns = {}
    for name, index in zip(wanted, where):
        if index:
            begin = ends[index - 1] + 1
        else:
            begin = np.empty(rows, dtype=ends.dtype)
            begin[0] = line_start
            begin[1:] = line_ends[:-1] + 1
        columns[name] = _spellings(padded, begin, ends[index] - begin)
    high = int(line_ends[-1]) + 1
    record_ends = line_ends - line_start + 2 * np.arange(1, rows + 1)
    return Chunk(row, rows, columns, block[line_start:high].replace(b"\n", PLACEHOLDER), record_ends)


# ---------------------------------------------------------------------------------------- general reader

def _general_chunks(path: str, source: str, header: list[str], wanted: list[str], chunk_rows: int) -> Iterator[Chunk]:
    row = 1
    for frame in read_text_chunks(path, source, chunk_rows):
        frame = frame.fillna("")  # cells of a short row
        frame.columns = header
        columns = {}
        for name in wanted:
            codes, uniques = pd.factorize(frame[name].to_numpy(dtype=object))
            columns[name] = ([str(u) for u in uniques], codes.astype(np.int64))
        lines = _csv_lines(frame)
        lengths = np.fromiter((len(b) for b in lines), dtype=np.int64, count=len(lines))
        yield Chunk(row, len(frame), columns, b"".join(lines), np.cumsum(lengths) - 1)
        row += len(frame)


def _csv_lines(frame: pd.DataFrame) -> list[bytes]:
    """Each record as pandas to_csv writes it (csv module, minimal quoting, "\\n"), plus ",0"."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    lines = []
    for record in frame.itertuples(index=False, name=None):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(record + ("0",))
        lines.append(buffer.getvalue().encode("utf-8"))
    return lines
