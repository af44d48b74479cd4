/**
 * The check of a local input folder before anything is uploaded or started: the folder and every header
 * (scripts/lib/local/inputFolder.ts), then every cell of every CSV, streamed in large reads through the byte
 * scanner (csvCells.ts), so memory stays flat whatever the input's size. Every problem found is reported at
 * once, each naming the file, and for a cell its column, data row, line and value.
 */
import * as fs from "fs";
import * as path from "path";
import { checkInputFolder, InputFolderError } from "../local/inputFolder";
import { ColumnRules, CsvCellChecker, FileCheckReport } from "./csvCells";
import { pipelineColumnRules } from "./schema";

export interface InputCheckOptions {
  readonly rules?: ColumnRules;
  /** Bytes per read (default 1 MiB); a record longer than this grows the buffer. */
  readonly chunkBytes?: number;
  /**
   * Longest record (line) accepted, default 64 MiB: the buffer grows to hold one record, and a quote left open
   * early in a large file would otherwise make the rest of it one record held in memory.
   */
  readonly maxRecordBytes?: number;
  /** Problems listed per file before the rest are only counted (default 5). */
  readonly maxProblemsPerFile?: number;
  readonly signal?: AbortSignal;
  /** false: check with the general loop only (for tests comparing it with the plain loop). @default true */
  readonly plainLoop?: boolean;
}

export interface InputCheckReport {
  readonly folder: string;
  readonly files: readonly FileCheckReport[];
  /** Non-CSV files and hidden entries the steps skip, relative to the folder. */
  readonly skipped: readonly string[];
  readonly rows: number;
  readonly bytes: number;
}

export class InputCheckError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n  "));
    this.name = "InputCheckError";
  }
}

function read(fd: number, b: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, b, offset, length, null, (e, n) => (e ? reject(e) : resolve(n))));
}

/** Checks every cell of one CSV file; `source` is how messages name it. */
export async function checkCsvFile(file: string, source: string, rules: ColumnRules, o: InputCheckOptions = {}): Promise<FileCheckReport> {
  const checker = new CsvCellChecker(source, rules, o.maxProblemsPerFile, o.plainLoop ?? true);
  const fd = fs.openSync(file, "r");
  try {
    let b = Buffer.allocUnsafe(o.chunkBytes ?? 1 << 20);
    let have = 0;
    let offset = 0; // file position of b[0]
    for (;;) {
      if (o.signal?.aborted) throw o.signal.reason ?? new Error("aborted");
      const n = await read(fd, b, have, b.length - have);
      const end = have + n;
      const consumed = checker.feed(b, 0, end, n === 0, offset);
      if (n === 0 || checker.done) break;
      have = end - consumed;
      offset += consumed;
      if (have === b.length) {
        const limit = o.maxRecordBytes ?? 64 << 20;
        if (have >= limit) {
          checker.recordTooLong(limit);
          break;
        }
        const bigger = Buffer.allocUnsafe(Math.min(b.length * 2, limit));
        b.copy(bigger, 0, consumed, end);
        b = bigger;
      } else if (have > 0) {
        b.copy(b, 0, consumed, end);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return checker.finish();
}

/**
 * Checks a local input folder as the pipeline would read it. Throws InputFolderError for a folder or header
 * problem (as the header check always did), InputCheckError listing every other problem; else the report.
 */
export async function checkInputCells(folder: string, o: InputCheckOptions = {}): Promise<InputCheckReport> {
  const listed = checkInputFolder(folder);
  const rules = o.rules ?? pipelineColumnRules();
  const files: FileCheckReport[] = [];
  for (const name of listed.csvFiles) {
    const file = path.join(listed.folder, name);
    files.push(await checkCsvFile(file, file, rules, o));
  }
  const problems = files.flatMap((f) => f.problems);
  if (problems.length) throw new InputCheckError(problems);
  return {
    folder: listed.folder,
    files,
    skipped: listed.skipped,
    rows: files.reduce((s, f) => s + f.rows, 0),
    bytes: files.reduce((s, f) => s + f.bytes, 0),
  };
}

export { InputFolderError };
