/**
 * Copies a job's output folder (blob prefix or local folder) into a local folder, safely:
 *  - every file goes to a temporary name beside its destination, is checked against the source's MD5 (when
 *    the source has one) and renamed into place only after ALL files are downloaded and checked, so a failed
 *    or interrupted pull leaves no partial file and no half-updated folder;
 *  - a file already there with the same content is skipped (a re-run downloads only what is missing);
 *  - a file already there with different content is a conflict: without --force nothing at all is written
 *    (conflicts are found before downloading when the source has MD5s, otherwise after, before any rename).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { CliError, ExitCode } from "../exitCodes";
import { inPool } from "../../../lib/pool";

export interface SourceFile {
  /** POSIX path relative to the output folder. */
  readonly name: string;
  readonly size: number;
  /** Base64 MD5 of the content, when the source knows it (blob Content-MD5). */
  readonly md5?: string;
}

export interface PullSource {
  /** For messages, e.g. the blob URL of the folder. */
  readonly describe: string;
  list(signal?: AbortSignal): Promise<SourceFile[]>;
  /** Writes the file's bytes to `dest` (which does not exist); returns their MD5 when it computed it on the way. */
  download(file: SourceFile, dest: string, signal?: AbortSignal): Promise<{ md5?: string }>;
}

export interface PullOptions {
  readonly force?: boolean;
  /** @default 8 */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  readonly onFile?: (name: string, action: "downloaded" | "skipped") => void;
}

export interface PullResult {
  readonly outDir: string;
  readonly files: string[];
  readonly downloaded: number;
  readonly skipped: number;
  readonly bytes: number;
}

export async function md5File(file: string): Promise<string> {
  const h = crypto.createHash("md5");
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("base64");
}

async function sameContent(a: string, b: string): Promise<boolean> {
  const [sa, sb] = [fs.statSync(a).size, fs.statSync(b).size];
  return sa === sb && (await md5File(a)) === (await md5File(b));
}

function safeJoin(outDir: string, name: string): string {
  const p = path.resolve(outDir, ...name.split("/"));
  if (!p.startsWith(outDir + path.sep)) throw new CliError(ExitCode.Internal, `refusing source file name outside the output folder: ${name}`);
  return p;
}

export async function pullFiles(source: PullSource, outDirRaw: string, opts: PullOptions = {}): Promise<PullResult> {
  const outDir = path.resolve(outDirRaw);
  const files = (await source.list(opts.signal)).filter((f) => f.name && !f.name.endsWith("/"));
  if (files.length === 0) throw new CliError(ExitCode.JobFailed, `no files found in the job's scores output (${source.describe})`);

  type Item = { file: SourceFile; dest: string; temp: string; verifyAfter: boolean };
  const todo: Item[] = [];
  const conflicts: string[] = [];
  let skipped = 0;
  let tempSeq = 0;
  for (const file of files) {
    const dest = safeJoin(outDir, file.name);
    const temp = path.join(path.dirname(dest), `.${path.basename(dest)}.partial-${process.pid}-${++tempSeq}`);
    const st = fs.statSync(dest, { throwIfNoEntry: false });
    if (!st) {
      todo.push({ file, dest, temp, verifyAfter: false });
    } else if (!st.isFile()) {
      conflicts.push(dest);
    } else if (file.md5) {
      if (st.size === file.size && (await md5File(dest)) === file.md5) {
        skipped++;
        opts.onFile?.(file.name, "skipped");
      } else if (opts.force) todo.push({ file, dest, temp, verifyAfter: false });
      else conflicts.push(dest);
    } else if (st.size !== file.size && !opts.force) {
      conflicts.push(dest);
    } else {
      todo.push({ file, dest, temp, verifyAfter: !opts.force });
    }
  }
  const refuse = (list: string[]) =>
    new CliError(
      ExitCode.Usage,
      `${list.length} file${list.length === 1 ? "" : "s"} in ${outDir} differ from the job's scores and would be overwritten: ${list.slice(0, 5).join(", ")}${list.length > 5 ? ", …" : ""}; nothing was written`,
      "Pull into another folder, or add --force to overwrite them.",
    );
  if (conflicts.length > 0) throw refuse(conflicts);

  const temps: string[] = [];
  let bytes = 0;
  try {
    await inPool(todo, opts.concurrency ?? 8, async (item) => {
      fs.mkdirSync(path.dirname(item.temp), { recursive: true });
      for (let attempt = 1; ; attempt++) {
        temps.push(item.temp);
        fs.rmSync(item.temp, { force: true });
        let got: { md5?: string };
        try {
          got = await source.download(item.file, item.temp, opts.signal);
        } catch (e) {
          // A connection cut mid-body surfaces as an error (the storage SDK's stream reports it as "aborted"):
          // start the file again, unless the user is the one who stopped us.
          if (opts.signal?.aborted || e instanceof CliError) throw e;
          if (attempt >= 3) throw new CliError(ExitCode.Unavailable, `${item.file.name}: the download kept failing (${(e as Error).message}) after ${attempt} attempts`);
          continue;
        }
        const size = fs.statSync(item.temp).size;
        const okSize = size === item.file.size;
        const okMd5 = !item.file.md5 || (got.md5 ?? (await md5File(item.temp))) === item.file.md5;
        if (okSize && okMd5) break;
        if (attempt >= 3) {
          throw new CliError(ExitCode.Unavailable, `${item.file.name}: downloaded content does not match the source (${okSize ? "MD5 differs" : `${size} of ${item.file.size} bytes`}) after ${attempt} attempts`);
        }
      }
      bytes += item.file.size;
    });
    const late: string[] = [];
    const write: Item[] = [];
    for (const item of todo) {
      if (item.verifyAfter && fs.existsSync(item.dest)) {
        if (await sameContent(item.temp, item.dest)) {
          fs.rmSync(item.temp, { force: true });
          skipped++;
          opts.onFile?.(item.file.name, "skipped");
          continue;
        }
        late.push(item.dest);
      }
      write.push(item);
    }
    if (late.length > 0) throw refuse(late);
    for (const item of write) {
      fs.renameSync(item.temp, item.dest);
      opts.onFile?.(item.file.name, "downloaded");
    }
    return { outDir, files: files.map((f) => f.name).sort(), downloaded: write.length, skipped, bytes };
  } finally {
    for (const t of temps) fs.rmSync(t, { force: true });
  }
}
