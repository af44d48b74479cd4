/**
 * A byte-level CSV scanner that checks every cell of one file the way the prepare step would read it, fed
 * Buffers as they are read (the file is never held whole).
 *
 * The rules are the step's (components/prepare/src: csvfolder.read_header with Python's csv module for the
 * header, pandas' C tokenizer with index_col=False for the rows, heart_features for the numeric columns):
 *  - the header is the first non-empty line; names are stripped;
 *  - later lines that are empty or hold only spaces and tabs are skipped and not counted as data rows;
 *  - fields are RFC 4180 as pandas reads them: a field that starts with a quote runs to the closing quote
 *    ("" is a quote) and may hold commas and line breaks; text after the closing quote is appended; a quote
 *    inside an unquoted field is an ordinary character; \n, \r\n and \r end a line;
 *  - a row may have fewer fields than the header (the rest are empty); the first data row may have one more
 *    field than the header only when that field is empty in every row (trailing commas); no row may have
 *    more fields than the first data row (or the header, if it has more);
 *  - a quoted field still open at the end of the file, and bytes that are not UTF-8, are refused;
 *  - numeric columns: empty, or a finite decimal number (scripts/lib/input/numeric.ts).
 * Values in other columns are free text (categorical codes never seen in training are scored as missing).
 *
 * The common cell costs a few byte comparisons: no string is built unless a cell is refused, quoted with an
 * escaped quote, or non-ASCII in a numeric column.
 */
import { isUtf8 } from "buffer";
import { acceptsNumericText, numericBytesOk, pyRepr, pyStrip } from "./numeric";

const LF = 0x0a;
const CR = 0x0d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const SPACE = 0x20;
const TAB = 0x09;
/** Bytes that end an unquoted field. */
const STOP = new Uint8Array(256);
STOP[COMMA] = STOP[LF] = STOP[CR] = 1;

export interface ColumnRules {
  /** Columns every file must have. */
  readonly required: readonly string[];
  /** Columns whose cells must be empty or a finite number. */
  readonly numeric: readonly string[];
  /** Names an input may not use (the columns the pipeline adds). */
  readonly reserved: readonly string[];
}

export interface FileCheckReport {
  readonly file: string;
  /** Data rows read (blank lines not counted). */
  readonly rows: number;
  readonly bytes: number;
  /** Each names the file, and for a cell the column, data row, line and value. At most `maxProblems`, then a count. */
  readonly problems: readonly string[];
}

/** Checks one file; call feed() with each buffer (carrying the unconsumed tail over), then finish(). */
export class CsvCellChecker {
  private header: string[] | undefined;
  private headerFields: string[] = [];
  private width = 0;
  private numericAt = new Uint8Array(0);
  private expected = -1;
  private trailingMustBeEmpty = false;
  private dataRows = 0;
  private line = 1;
  private problemCount = 0;
  private readonly problems: string[] = [];
  private pending: string[] = [];
  private stopped = false;
  private bytes = 0;
  private bomChecked = false;
  /** Set by scanPlain when it meets a carriage return not followed by a line feed: scan() takes over there. */
  private lonelyCr = false;

  constructor(
    private readonly source: string,
    private readonly rules: ColumnRules,
    private readonly maxProblems = 5,
    /** false: the general loop only (the tests compare the two). */
    private readonly plainLoop = true,
  ) {}

  /**
   * Scans the complete records in b[start, end) and returns where the first incomplete one starts (`end` when
   * `final` or when all were complete); the caller keeps b[returned, end) and feeds it again with more bytes.
   * `fileOffset` is the file position of b[0], for messages about bytes.
   */
  feed(b: Buffer, start: number, end: number, final: boolean, fileOffset: number): number {
    let i = start;
    if (!this.bomChecked) {
      if (end - i < 3 && !final) return i;
      if (end - i >= 3 && b[i] === 0xef && b[i + 1] === 0xbb && b[i + 2] === 0xbf) i += 3;
      this.bomChecked = true;
    }
    if (this.stopped) {
      this.bytes += end - start;
      return end;
    }
    // After the header, a stretch with no quote (most files, all through) takes the plain loop; anything else
    // the general one. The two are held to the same verdicts by the tests.
    let consumed = this.header === undefined ? this.scan(b, i, end, final, true) : i;
    if (this.header !== undefined && !this.stopped && consumed < end) {
      const plain = this.plainLoop && b.subarray(consumed, end).indexOf(QUOTE) < 0;
      consumed = plain ? this.scanPlain(b, consumed, end, final) : this.scan(b, consumed, end, final, false);
      if (this.lonelyCr) {
        this.lonelyCr = false;
        consumed = this.scan(b, consumed, end, final, false);
      }
    }
    if (!isUtf8(b.subarray(start, consumed))) this.utf8Problem(b, start, consumed, fileOffset);
    this.bytes += consumed - start;
    return consumed;
  }

  /** The reader gave up on a record longer than `limit` bytes (starting at the next data row). */
  recordTooLong(limit: number): void {
    this.problem(`data row ${this.dataRows + 1} (line ${this.line}) runs past ${limit >= 1048576 ? `${Math.round(limit / 1048576)} MiB` : `${limit} bytes`} without ending: is a quote left open?`);
    this.stopped = true;
  }

  /** True once nothing more can be learned from this file (a broken header, quoting or encoding). */
  get done(): boolean {
    return this.stopped;
  }

  finish(): FileCheckReport {
    const problems = [...this.problems];
    if (this.problemCount > problems.length) problems.push(`${this.source}: … and ${this.problemCount - problems.length} more problem(s) in this file`);
    return { file: this.source, rows: this.dataRows, bytes: this.bytes, problems };
  }

  private problem(message: string): void {
    this.problemCount++;
    if (this.problems.length < this.maxProblems) this.problems.push(`${this.source}: ${message}`);
  }

  /** The general loop; with `headerOnly`, it returns after the header record (the rest may take the plain loop). */
  private scan(b: Buffer, i: number, end: number, final: boolean, headerOnly: boolean): number {
    while (i < end) {
      const recStart = i;
      let c = b[i];
      // Empty lines are skipped everywhere; lines of spaces and tabs only after the header (pandas skips them,
      // while the csv module reading the header takes them as a header with an empty name).
      if (c === LF || c === CR) {
        if (c === CR && i + 1 >= end && !final) return recStart;
        i += c === CR && i + 1 < end && b[i + 1] === LF ? 2 : 1;
        this.line++;
        continue;
      }
      if ((c === SPACE || c === TAB) && this.header) {
        let j = i + 1;
        while (j < end && ((c = b[j]) === SPACE || c === TAB)) j++;
        if (j >= end) {
          if (!final) return recStart;
          return end;
        }
        if (c === LF || c === CR) {
          if (c === CR && j + 1 >= end && !final) return recStart;
          i = j + (c === CR && j + 1 < end && b[j + 1] === LF ? 2 : 1);
          this.line++;
          continue;
        }
      }
      // One record.
      const width = this.width;
      const numericAt = this.numericAt;
      const inHeader = this.header === undefined;
      if (inHeader) this.headerFields = [];
      let col = 0;
      let breaks = 0;
      let extraNonEmpty = false;
      if (this.pending.length !== 0) this.pending = [];
      for (;;) {
        const fs = i;
        let qs = -1;
        let qe = -1;
        let escaped = false;
        if (i < end && b[i] === QUOTE) {
          i++;
          qs = i;
          for (;;) {
            if (i >= end) {
              if (!final) return recStart;
              this.pending = [];
              this.problem(`a quoted field opened on line ${this.line} is never closed (the file ends inside it)`);
              this.stopped = true;
              return end;
            }
            c = b[i];
            if (c === QUOTE) {
              if (i + 1 >= end && !final) return recStart;
              if (i + 1 < end && b[i + 1] === QUOTE) {
                escaped = true;
                i += 2;
                continue;
              }
              break;
            }
            if (c === LF) breaks++;
            else if (c === CR) {
              if (i + 1 >= end && !final) return recStart;
              if (i + 1 >= end || b[i + 1] !== LF) breaks++;
            }
            i++;
          }
          qe = i;
          i++;
        }
        const us = i;
        while (i < end && STOP[b[i]] === 0) i++;
        if (i >= end && !final) return recStart;
        const fe = i;
        if (inHeader) {
          this.headerFields.push(decodeField(b, fs, fe));
        } else if (col < width) {
          if (numericAt[col] === 1) {
            // Most numeric cells are digits with at most one dot: decided here without a call.
            let k = fs;
            let dot = 0;
            if (qs < 0 && fe - fs < 300) {
              for (; k < fe; k++) {
                c = b[k];
                if (c >= 0x30 && c <= 0x39) continue;
                if (c === 0x2e && dot === 0) dot = 1;
                else break;
              }
            }
            if (fe !== fs && (k !== fe || fe - fs === dot)) {
              const ok = qs < 0 ? numericBytesOk(b, fs, fe) : !escaped && us === fe && numericBytesOk(b, qs, qe);
              if (!ok) this.checkCellSlowly(b, fs, fe, col);
            }
          }
        } else if (col === width) {
          extraNonEmpty = qs < 0 ? fe > fs : decodeField(b, fs, fe) !== "";
        }
        col++;
        if (i >= end) break; // the file's last line has no line break
        c = b[i];
        if (c === COMMA) {
          i++;
          continue;
        }
        if (c === CR && i + 1 >= end && !final) return recStart;
        i += c === CR && i + 1 < end && b[i + 1] === LF ? 2 : 1;
        break;
      }
      // The common record (a data row no wider than the first, nothing to report) only counts.
      if (inHeader || this.dataRows === 0 || col > this.expected || extraNonEmpty || this.pending.length !== 0) {
        this.endRecord(col, extraNonEmpty);
        if (this.stopped) return end;
      } else {
        this.dataRows++;
      }
      this.line += breaks + 1;
      if (inHeader && headerOnly) return i;
    }
    return i;
  }

  /**
   * scan() for a stretch without quotes, past the header: the same rules, fewer tests per byte. Line ends are
   * \n or \r\n; at a lone \r it stops before the record (lonelyCr) and feed() hands the rest to scan().
   */
  private scanPlain(b: Buffer, i: number, end: number, final: boolean): number {
    const width = this.width;
    const numericAt = this.numericAt;
    while (i < end) {
      const recStart = i;
      let c = b[i];
      if (c === SPACE || c === TAB) {
        let j = i + 1;
        while (j < end && ((c = b[j]) === SPACE || c === TAB)) j++;
        if (j >= end) return final ? end : recStart;
        if (c === LF || c === CR) i = j; // a blank line: skipped below
      }
      if (c === LF) {
        i++;
        this.line++;
        continue;
      }
      if (c === CR) {
        if (i + 1 >= end && !final) return recStart;
        if (i + 1 < end && b[i + 1] !== LF) return this.stopAtLonelyCr(recStart);
        i += i + 1 < end ? 2 : 1; // a \r ending the file ends its last line
        this.line++;
        continue;
      }
      let col = 0;
      let extraNonEmpty = false;
      if (this.pending.length !== 0) this.pending = [];
      for (;;) {
        const fs = i;
        while (i < end && (c = b[i]) !== COMMA && c !== LF && c !== CR) i++;
        if (i >= end && !final) return recStart;
        if (col < width) {
          if (numericAt[col] === 1 && i !== fs) {
            let k = fs;
            let dot = 0;
            for (; k < i; k++) {
              const d = b[k];
              if (d >= 0x30 && d <= 0x39) continue;
              if (d === 0x2e && dot === 0) dot = 1;
              else break;
            }
            if ((k !== i || i - fs === dot || i - fs >= 300) && !numericBytesOk(b, fs, i)) this.checkCellSlowly(b, fs, i, col);
          }
        } else if (col === width) {
          extraNonEmpty = i > fs;
        }
        col++;
        if (i >= end) break; // the file's last line has no line break
        if (c === COMMA) {
          i++;
          continue;
        }
        if (c === CR) {
          if (i + 1 >= end) {
            if (!final) return recStart;
          } else if (b[i + 1] !== LF) {
            return this.stopAtLonelyCr(recStart);
          } else {
            i++;
          }
        }
        i++;
        break;
      }
      if (this.dataRows === 0 || col > this.expected || extraNonEmpty || this.pending.length !== 0) {
        this.endRecord(col, extraNonEmpty);
        if (this.stopped) return end;
      } else {
        this.dataRows++;
      }
      this.line++;
    }
    return i;
  }

  private stopAtLonelyCr(recStart: number): number {
    this.lonelyCr = true;
    return recStart;
  }

  private endRecord(fields: number, extraNonEmpty: boolean): void {
    if (!this.header) {
      this.startColumns(this.headerFields.map(pyStrip));
      return;
    }
    const row = ++this.dataRows;
    if (this.pending.length > 0) for (const p of this.pending) this.problem(p);
    if (row === 1) {
      this.expected = Math.max(fields, this.width);
      if (fields > this.width + 1) this.problem(`${this.where(row)} has ${fields} fields, more than the ${this.width} columns of the header`);
      this.trailingMustBeEmpty = fields === this.width + 1;
    } else if (fields > this.expected) {
      this.problem(`${this.where(row)} has ${fields} fields, more than the ${this.expected} of the first data row`);
    }
    if (extraNonEmpty && this.trailingMustBeEmpty && fields <= this.expected) {
      this.problem(`${this.where(row)} has a value after the header's last column (only an empty trailing field is allowed there)`);
    }
  }

  private where(row: number): string {
    return `data row ${row} (line ${this.line})`;
  }

  private startColumns(names: string[]): void {
    this.header = names;
    this.width = names.length;
    const problems: string[] = [];
    const missing = this.rules.required.filter((c) => !names.includes(c));
    if (missing.length) problems.push(`missing required column${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
    const empty = names.indexOf("");
    if (empty >= 0) problems.push(`header has an empty column name (column ${empty + 1})`);
    const repeated = [...new Set(names.filter((n, k) => n !== "" && names.indexOf(n) !== k))].sort();
    if (repeated.length) problems.push(`column name${repeated.length > 1 ? "s" : ""} repeated in the header: ${repeated.join(", ")}`);
    const reserved = names.filter((n) => this.rules.reserved.includes(n));
    if (reserved.length) problems.push(`column name${reserved.length > 1 ? "s" : ""} ${reserved.join(", ")} reserved for the pipeline's output: rename ${reserved.length > 1 ? "them" : "it"}`);
    for (const p of problems) this.problem(p);
    // Without a sound header the columns cannot be told apart: the header problems are the report.
    if (problems.length) this.stopped = true;
    this.numericAt = new Uint8Array(this.width);
    for (const n of this.rules.numeric) {
      const k = names.indexOf(n);
      if (k >= 0) this.numericAt[k] = 1;
    }
  }

  private checkCellSlowly(b: Buffer, fs: number, fe: number, col: number): void {
    const value = decodeField(b, fs, fe);
    if (acceptsNumericText(value)) return;
    this.pending.push(
      `column '${this.header![col]}' must be numeric, but data row ${this.dataRows + 1} holds ${pyRepr(value)} (line ${this.line}; empty cells are allowed and count as missing)`,
    );
  }

  private utf8Problem(b: Buffer, start: number, end: number, fileOffset: number): void {
    const at = firstInvalidUtf8(b, start, end);
    this.problem(`not UTF-8 text (byte 0x${b[at].toString(16).padStart(2, "0")} at byte offset ${fileOffset + at})`);
    this.stopped = true;
  }
}

/** A field's value as the readers see it: quotes removed, "" turned into ", text after the closing quote kept. */
export function decodeField(b: Buffer, fs: number, fe: number): string {
  if (fs >= fe || b[fs] !== QUOTE) return b.toString("utf8", fs, fe);
  let out = "";
  let seg = fs + 1;
  let i = seg;
  while (i < fe) {
    if (b[i] === QUOTE) {
      if (i + 1 < fe && b[i + 1] === QUOTE) {
        out += b.toString("utf8", seg, i + 1);
        i += 2;
        seg = i;
        continue;
      }
      out += b.toString("utf8", seg, i);
      return out + b.toString("utf8", i + 1, fe);
    }
    i++;
  }
  return out + b.toString("utf8", seg, fe);
}

/** Offset of the first byte that breaks UTF-8 (only called once isUtf8 has said there is one). */
function firstInvalidUtf8(b: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const c = b[i];
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    if (n > 0 && (i + n >= end + 0 || !isUtf8(b.subarray(i, i + n + 1)))) return i;
    i += n + 1;
  }
  return Math.max(start, end - 1);
}
