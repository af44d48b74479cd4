/**
 * The up-front check of a local input folder: it exists, holds at least one CSV, and every CSV's header names
 * the columns the pipeline needs. Only the first line of each file is read, so the check takes milliseconds
 * even for large inputs; the local CLI and the Azure `invoke` script both refuse bad folders with it before
 * starting or uploading anything. Values inside the files are the prepare step's job.
 */
import * as fs from "fs";
import * as path from "path";

/**
 * The 13 UCI Heart feature columns every input CSV must have (extra columns are kept and passed through).
 * components/prepare/src/prepare.py has its own copy; test/localPipeline.test.ts checks the two agree.
 */
export const REQUIRED_COLUMNS: readonly string[] = Object.freeze([
  "age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang", "oldpeak", "slope", "ca", "thal",
]);

/** The column the score step adds in append mode; an input may not carry it (prepare refuses it too). */
export const PREDICTION_COLUMN = "prediction";

/**
 * A file is taken as a CSV by its name, as the Python steps do (csvfolder.py in each component code folder):
 * ".csv" in any case, hidden names (".x") never.
 */
export function isCsvName(name: string): boolean {
  return /\.csv$/i.test(name) && !name.startsWith(".");
}

export interface InputFolderReport {
  /** Absolute folder path. */
  readonly folder: string;
  /** CSV files, as paths relative to the folder (the steps search sub-folders too), sorted. */
  readonly csvFiles: readonly string[];
  /** Other files and hidden entries the steps will skip (with a warning), relative, sorted. */
  readonly skipped: readonly string[];
}

export class InputFolderError extends Error {
  constructor(readonly folder: string, readonly problems: readonly string[]) {
    super(problems.length === 1 ? problems[0] : `input folder ${folder} is not usable:\n  - ${problems.join("\n  - ")}`);
    this.name = "InputFolderError";
  }
}

const HEADER_LIMIT = 64 * 1024;

/**
 * The header line of a CSV: its first non-blank line (blank lines before it are skipped, as pandas does),
 * without BOM and line ending; undefined when none is found in the first 64 KiB.
 */
export function readHeaderLine(file: string): string | undefined {
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(HEADER_LIMIT);
    let length = 0;
    for (;;) {
      const n = length < HEADER_LIMIT ? fs.readSync(fd, buf, length, HEADER_LIMIT - length, length) : 0;
      length += n;
      let text = buf.subarray(0, length).toString("utf8");
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      const lines = text.split(/\r\n|\n|\r/); // \r alone ends a line too, as for the csv module and pandas
      const complete = n === 0 ? lines : lines.slice(0, -1);
      const header = complete.find((l) => l.trim() !== "");
      if (header !== undefined) return header.replace(/\r$/, "");
      if (n === 0) return undefined;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Column names of a CSV header line (surrounding quotes and blanks removed). */
export function headerColumns(line: string): string[] {
  return line.split(",").map((c) => c.trim().replace(/^"(.*)"$/, "$1").trim());
}

/** What is wrong with a header, as prepare.py would refuse it: missing, empty, repeated or reserved names. */
export function headerProblems(columns: readonly string[], required: readonly string[] = REQUIRED_COLUMNS): string[] {
  const problems: string[] = [];
  const missing = missingColumns(columns, required);
  if (missing.length > 0) problems.push(`missing required column${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
  const empty = columns.indexOf("");
  if (empty >= 0) problems.push(`header has an empty column name (column ${empty + 1})`);
  const repeated = [...new Set(columns.filter((c, i) => c !== "" && columns.indexOf(c) !== i))].sort();
  if (repeated.length > 0) problems.push(`column name${repeated.length > 1 ? "s" : ""} repeated in the header: ${repeated.join(", ")}`);
  if (columns.includes(PREDICTION_COLUMN)) problems.push(`column '${PREDICTION_COLUMN}' is reserved for the scores: rename it`);
  return problems;
}

/** The required columns a header lacks, in REQUIRED_COLUMNS order. */
export function missingColumns(columns: readonly string[], required: readonly string[] = REQUIRED_COLUMNS): string[] {
  const have = new Set(columns);
  return required.filter((c) => !have.has(c));
}

/**
 * Checks a local input folder; throws InputFolderError listing every problem (each naming the file and the
 * missing columns) or returns what will be scored.
 */
export function checkInputFolder(folder: string, required: readonly string[] = REQUIRED_COLUMNS): InputFolderReport {
  const abs = path.resolve(folder);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(abs);
  } catch {
    throw new InputFolderError(abs, [`input folder ${abs} does not exist`]);
  }
  if (!stat.isDirectory()) throw new InputFolderError(abs, [`input ${abs} is not a folder (give the folder that holds the CSV files)`]);
  const csvFiles: string[] = [];
  const skipped: string[] = [];
  let seenAny = false;
  const unreadable: string[] = [];
  const walk = (dir: string, rel: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (e) {
      unreadable.push(`${dir}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      return;
    }
    for (const e of entries) {
      seenAny = true;
      const relative = rel ? `${rel}/${e.name}` : e.name;
      const full = path.join(dir, e.name);
      const st = e.isSymbolicLink() ? fs.statSync(full, { throwIfNoEntry: false }) : undefined;
      const isDir = e.isDirectory() || !!st?.isDirectory();
      const isFile = e.isFile() || !!st?.isFile();
      if (isDir) {
        if (e.name.startsWith(".")) skipped.push(`${relative}/`);
        else walk(full, relative);
      } else if (isFile && isCsvName(e.name)) {
        csvFiles.push(relative);
      } else {
        skipped.push(relative);
      }
    }
  };
  walk(abs, "");
  if (unreadable.length > 0) throw new InputFolderError(abs, unreadable);
  if (!seenAny) throw new InputFolderError(abs, [`input folder ${abs} is empty: put one or more CSV files in it`]);
  if (csvFiles.length === 0) {
    throw new InputFolderError(abs, [`input folder ${abs} has no CSV file (found ${skipped.slice(0, 5).join(", ")}${skipped.length > 5 ? ", …" : ""}); files must end in .csv`]);
  }
  const problems: string[] = [];
  for (const name of csvFiles) {
    const file = path.join(abs, name);
    let header: string | undefined;
    try {
      header = readHeaderLine(file);
    } catch (e) {
      problems.push(`${file}: cannot be read (${(e as Error).message})`);
      continue;
    }
    if (header === undefined || header.trim() === "") {
      problems.push(`${file}: is empty (expected a header line with the columns ${required.join(",")})`);
      continue;
    }
    for (const p of headerProblems(headerColumns(header), required)) problems.push(`${file}: ${p}`);
  }
  if (problems.length > 0) throw new InputFolderError(abs, problems);
  return { folder: abs, csvFiles, skipped };
}
