/**
 * Copies a job's output folder (blob prefix or local folder) into a local folder, safely:
 *  - every file goes to a temporary name beside its destination (`.<name>.partial-<pid>-<n>`), is checked against
 *    the source's MD5 (when the source has one) and renamed into place only after ALL files are downloaded and
 *    checked, so a failed or interrupted pull leaves no partial file and no half-updated folder;
 *  - a pull that was killed outright (SIGKILL, power loss) cannot clean up: the next pull into the same folder
 *    removes those leftovers first: only names of that exact pattern, for a file this pull writes, whose process
 *    is no longer running (never a user's file, never the temp file of a pull still running);
 *  - a file already there with the same content is skipped (a re-run downloads only what is missing);
 *  - a file already there with different content is a conflict: without --force nothing at all is written
 *    (conflicts are found before downloading when the source has MD5s, otherwise after, before any rename);
 *  - the folder cannot be written (permissions, read-only or full disk, file-size limit): exit 2 naming the
 *    folder and the cause, with every temporary file and every folder this pull created removed again.
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
  /**
   * Writes the file's bytes to `dest` (which does not exist; create it exclusively); returns their MD5 and count
   * when it computed them on the way.
   */
  download(file: SourceFile, dest: string, signal?: AbortSignal): Promise<{ md5?: string; bytes?: number }>;
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

// ---- temporary names and leftovers ------------------------------------------------------------------------

const TEMP_NAME = /^\.(.+)\.partial-([1-9][0-9]*)-([1-9][0-9]*)$/;
/** Temporary files this process is writing now (so a second pull in the same process never sweeps them). */
const inUse = new Set<string>();
let tempSeq = 0;

/** The temporary name a pull downloads `dest` to: `.<name>.partial-<pid>-<n>` in the same folder. */
export function tempNameFor(dest: string, pid = process.pid, seq = ++tempSeq): string {
  return path.join(path.dirname(dest), `.${path.basename(dest)}.partial-${pid}-${seq}`);
}

/** The file a temporary name belongs to and the process that made it, or undefined for any other name. */
export function parseTempName(name: string): { file: string; pid: number } | undefined {
  const m = TEMP_NAME.exec(name);
  return m ? { file: m[1], pid: Number(m[2]) } : undefined;
}

function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // alive, someone else's
  }
}

/**
 * Removes what killed pulls left in `dir`: regular files named `.<f>.partial-<pid>-<n>` where `<f>` is one of
 * `files` (the names this pull writes into `dir`) and process `<pid>` is gone (or is this process, which has not
 * made that file). Returns the paths removed.
 */
export function sweepLeftovers(dir: string, files: ReadonlySet<string>): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR") return [];
    throw e;
  }
  const removed: string[] = [];
  for (const name of names) {
    const t = parseTempName(name);
    if (!t || !files.has(t.file)) continue;
    const p = path.join(dir, name);
    if (inUse.has(p) || (t.pid !== process.pid && processRunning(t.pid))) continue;
    if (!fs.lstatSync(p, { throwIfNoEntry: false })?.isFile()) continue;
    fs.rmSync(p, { force: true });
    removed.push(p);
  }
  return removed;
}

// ---- local write failures ---------------------------------------------------------------------------------

const WRITE_SYSCALLS = new Set(["open", "write", "writev", "close", "fsync", "rename", "mkdir", "unlink", "rmdir", "copyfile", "ftruncate", "scandir", "lstat", "stat"]);
const CAUSES: Record<string, string> = {
  ENOSPC: "no space left on the disk",
  EDQUOT: "the disk quota is used up",
  EFBIG: "a file is larger than the file system or this process's file-size limit allows",
  EROFS: "the file system is read-only",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EIO: "input/output error on the disk",
  ENOTDIR: "a part of the path is a file, not a folder",
  EISDIR: "a folder is in the way of a file",
  ENAMETOOLONG: "a file name is too long for the file system",
  EMFILE: "too many open files",
  ENFILE: "too many open files",
};

/** A failure of this machine's file system while writing the output (not of the source): never retried. */
export function isLocalWriteError(e: unknown): e is NodeJS.ErrnoException {
  const err = e as NodeJS.ErrnoException;
  return typeof err?.code === "string" && err.code in CAUSES && (err.syscall === undefined || WRITE_SYSCALLS.has(err.syscall));
}

function writeFailure(e: NodeJS.ErrnoException, outDir: string, file?: string): CliError {
  const hint =
    e.code === "ENOSPC" || e.code === "EDQUOT" || e.code === "EFBIG"
      ? "Free some space (or raise the limit), or pull into a folder on another disk with --out, and run the same command again."
      : "Pull into a folder you can write with --out, or fix the folder's permissions, and run the same command again.";
  return new CliError(ExitCode.Usage, `cannot write the scores into ${outDir}: ${CAUSES[e.code!]} (${e.code}${file ? `, writing ${file}` : ""}); nothing was written`, hint);
}

/** Creates the folders `dirs` needs; returns the ones it created, outermost first. */
function makeFolders(dirs: Iterable<string>): string[] {
  const created: string[] = [];
  for (const dir of dirs) {
    const first = fs.mkdirSync(dir, { recursive: true });
    if (!first) continue;
    for (let d = dir; ; d = path.dirname(d)) {
      created.push(d);
      if (d === first) break;
    }
  }
  return created.sort((a, b) => a.length - b.length);
}

function removeEmptyFolders(dirs: readonly string[]): void {
  for (const d of [...dirs].reverse()) {
    try {
      fs.rmdirSync(d);
    } catch {
      // not empty (someone else wrote there) or already gone: leave it
    }
  }
}

export async function pullFiles(source: PullSource, outDirRaw: string, opts: PullOptions = {}): Promise<PullResult> {
  const outDir = path.resolve(outDirRaw);
  try {
    return await pullInto(source, outDir, opts);
  } catch (e) {
    // What remains: the folder could not be read or swept before anything was downloaded.
    if (isLocalWriteError(e)) throw writeFailure(e, outDir);
    throw e;
  }
}

async function pullInto(source: PullSource, outDir: string, opts: PullOptions): Promise<PullResult> {
  const files = (await source.list(opts.signal)).filter((f) => f.name && !f.name.endsWith("/"));
  if (files.length === 0) throw new CliError(ExitCode.JobFailed, `no files found in the job's scores output (${source.describe})`);

  type Item = { file: SourceFile; dest: string; temp: string; verifyAfter: boolean };
  const dests = files.map((file) => ({ file, dest: safeJoin(outDir, file.name) }));
  const byDir = new Map<string, Set<string>>();
  for (const { dest } of dests) {
    const dir = path.dirname(dest);
    if (!byDir.has(dir)) byDir.set(dir, new Set());
    byDir.get(dir)!.add(path.basename(dest));
  }
  for (const [dir, names] of byDir) sweepLeftovers(dir, names);

  const todo: Item[] = [];
  const conflicts: string[] = [];
  let skipped = 0;
  for (const { file, dest } of dests) {
    const st = fs.statSync(dest, { throwIfNoEntry: false });
    const item = (verifyAfter: boolean) => todo.push({ file, dest, temp: "", verifyAfter });
    if (!st) {
      item(false);
    } else if (!st.isFile()) {
      conflicts.push(dest);
    } else if (file.md5) {
      if (st.size === file.size && (await md5File(dest)) === file.md5) {
        skipped++;
        opts.onFile?.(file.name, "skipped");
      } else if (opts.force) item(false);
      else conflicts.push(dest);
    } else if (st.size !== file.size && !opts.force) {
      conflicts.push(dest);
    } else {
      item(!opts.force);
    }
  }
  const refuse = (list: string[]) =>
    new CliError(
      ExitCode.Usage,
      `${list.length} file${list.length === 1 ? "" : "s"} in ${outDir} differ from the job's scores and would be overwritten: ${list.slice(0, 5).join(", ")}${list.length > 5 ? ", …" : ""}; nothing was written`,
      "Pull into another folder, or add --force to overwrite them.",
    );
  if (conflicts.length > 0) throw refuse(conflicts);

  const temps = new Set<string>();
  let createdDirs: string[] = [];
  let renamed = 0;
  let bytes = 0;
  let current: string | undefined;
  try {
    current = outDir;
    createdDirs = makeFolders(new Set(todo.map((t) => path.dirname(t.dest))));
    current = undefined;
    await inPool(todo, opts.concurrency ?? 8, async (item) => {
      for (let attempt = 1; ; attempt++) {
        if (item.temp) fs.rmSync(item.temp, { force: true });
        item.temp = tempNameFor(item.dest);
        temps.add(item.temp);
        inUse.add(item.temp);
        let got: { md5?: string; bytes?: number };
        try {
          got = await source.download(item.file, item.temp, opts.signal);
        } catch (e) {
          // A connection cut mid-body surfaces as an error (the storage SDK's stream reports it as "aborted"):
          // start the file again, unless the user is the one who stopped us or this machine cannot write.
          if (isLocalWriteError(e)) throw writeFailure(e, outDir, item.file.name);
          if (opts.signal?.aborted || e instanceof CliError) throw e;
          if (attempt >= 3) throw new CliError(ExitCode.Unavailable, `${item.file.name}: the download kept failing (${(e as Error).message}) after ${attempt} attempts`);
          continue;
        }
        const size = got.bytes ?? fs.statSync(item.temp).size;
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
      current = item.file.name;
      fs.renameSync(item.temp, item.dest);
      temps.delete(item.temp);
      renamed++;
      opts.onFile?.(item.file.name, "downloaded");
    }
    return { outDir, files: files.map((f) => f.name).sort(), downloaded: write.length, skipped, bytes };
  } catch (e) {
    if (isLocalWriteError(e)) {
      const err = writeFailure(e, outDir, current === outDir ? undefined : current);
      // Renames are the last step and almost never fail alone; if one did, say what is in place.
      throw renamed > 0 ? new CliError(err.exitCode, err.message.replace("nothing was written", `${renamed} of ${todo.length} files were written in full, the rest not at all`), err.hint) : err;
    }
    throw e;
  } finally {
    for (const t of temps) {
      fs.rmSync(t, { force: true });
      inUse.delete(t);
    }
    for (const item of todo) inUse.delete(item.temp);
    if (renamed === 0) removeEmptyFolders(createdDirs);
  }
}
