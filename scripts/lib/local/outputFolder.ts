/** What a finished run produced: the CSV files of an output folder and their data-row counts. */
import * as fs from "fs";
import * as path from "path";

export interface OutputFileSummary {
  readonly name: string;
  /** Data rows (lines after the header). Assumes no quoted line breaks, which the steps never write. */
  readonly rows: number;
  readonly bytes: number;
}

export interface OutputFolderSummary {
  readonly folder: string;
  readonly files: readonly OutputFileSummary[];
  readonly rows: number;
}

export async function countCsvRows(file: string): Promise<number> {
  let newlines = 0;
  let last = -1;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) newlines++;
    if (chunk.length > 0) last = chunk[chunk.length - 1];
  }
  const lines = newlines + (last !== -1 && last !== 0x0a ? 1 : 0);
  return Math.max(0, lines - 1);
}

/** The .csv files in a folder and its sub-folders (as relative paths, sorted; hidden ones left out), with row counts. */
export async function summarizeOutputFolder(folder: string): Promise<OutputFolderSummary> {
  const names: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith(".")) continue; // e.g. a step's in-progress ".name.partial"
      const relative = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), relative);
      else if (e.isFile() && /\.csv$/i.test(e.name)) names.push(relative);
    }
  };
  walk(folder, "");
  names.sort();
  const files: OutputFileSummary[] = [];
  for (const name of names) {
    const file = path.join(folder, name);
    files.push({ name, rows: await countCsvRows(file), bytes: fs.statSync(file).size });
  }
  return { folder, files, rows: files.reduce((n, f) => n + f.rows, 0) };
}
