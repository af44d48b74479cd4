/**
 * Content hashing of a folder: the identity of a model or code folder, used for its upload path
 * (LocalUpload/<hash>/<folder>) and its registered version. Pure apart from reading the files.
 *
 * The hash is hex SHA-256 over the folder's files in sorted order (by POSIX relative path, compared by code
 * unit, not locale), one record per file: `<path>\0<size>\0<sha256 of the bytes>\n`. So it changes when
 * any file's bytes, name or presence change, and never with timestamps, permissions, the machine or the
 * folder's own location.
 *
 * Left out by default (they are produced by running the code, not part of it): `__pycache__/` folders,
 * `*.pyc` files, `.DS_Store`, and `.git/` folders. Symbolic links are followed; other special files skipped.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

export interface HashedFile {
  /** POSIX path relative to the hashed folder. */
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export interface FolderHash {
  readonly hash: string;
  /** Sorted by path. */
  readonly files: HashedFile[];
}

export interface HashOptions {
  /** Return true to leave a relative POSIX path out (called for folders, with a trailing "/", and files). */
  readonly exclude?: (relPath: string) => boolean;
}

export function defaultExclude(relPath: string): boolean {
  const base = path.posix.basename(relPath.replace(/\/$/, ""));
  if (relPath.endsWith("/")) return base === "__pycache__" || base === ".git";
  return base.endsWith(".pyc") || base === ".DS_Store";
}

export function sha256File(file: string): string {
  const h = crypto.createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}

/** Relative POSIX paths of the files under dir, sorted, after exclusions. */
export function listFiles(dir: string, exclude: (relPath: string) => boolean = defaultExclude): string[] {
  const out: string[] = [];
  const walk = (abs: string, rel: string) => {
    for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
      const childAbs = path.join(abs, entry.name);
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      const stat = entry.isSymbolicLink() ? fs.statSync(childAbs) : entry;
      if (stat.isDirectory()) {
        if (!exclude(`${childRel}/`)) walk(childAbs, childRel);
      } else if (stat.isFile()) {
        if (!exclude(childRel)) out.push(childRel);
      }
    }
  };
  walk(dir, "");
  return out.sort(compareCodeUnits);
}

export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function hashFolder(dir: string, opts: HashOptions = {}): FolderHash {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new Error(`${dir}: folder not found (expected a folder of files to hash)`);
  }
  if (!stat.isDirectory()) throw new Error(`${dir}: not a folder (expected a folder of files to hash)`);
  const files: HashedFile[] = listFiles(dir, opts.exclude ?? defaultExclude).map((rel) => {
    const abs = path.join(dir, ...rel.split("/"));
    return { path: rel, size: fs.statSync(abs).size, sha256: sha256File(abs) };
  });
  return { hash: hashRecords(files), files };
}

/** The folder hash from already-hashed files (sorted by path). */
export function hashRecords(files: readonly HashedFile[]): string {
  const h = crypto.createHash("sha256");
  for (const f of files) h.update(`${f.path}\0${f.size}\0${f.sha256}\n`);
  return h.digest("hex");
}
