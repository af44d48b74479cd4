/**
 * Uploads a local folder to blob storage under a content-addressed path, the way the Azure ML SDK uploads
 * local assets (azure-ai-ml `_artifacts/_blob_storage_helper.py` + `_utils/_asset_utils.py`):
 *  - destination `LocalUpload/<content hash>/<folder name>/<relative path>` in the datastore's container;
 *  - the first file in sorted order is the "indicator" blob; only after every file is written does it get the
 *    metadata `upload_status=completed` (plus `name`, `version`), because blob storage has no folder to mark;
 *  - an upload whose indicator carries that metadata is complete and is skipped; one without it (interrupted)
 *    is uploaded again, overwriting whatever part of it is there.
 * Differences from the SDK, on purpose: the hash is SHA-256 of lib/contentHash.ts (the SDK's is an MD5 of its
 * own), so paths do not collide with SDK uploads of the same folder; nothing is ignored beyond contentHash's
 * default exclusions (no .amlignore/.gitignore handling).
 *
 * What is uploaded is exactly what was hashed, or the upload is not marked complete: small files are read once,
 * hashed and sent from that same buffer; larger ones are hashed again on the way out (a pass-through hash on the
 * upload stream) and compared with the content address. No second pass over the folder after the upload.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Transform } from "stream";
import type { TokenCredential } from "@azure/core-auth";
import { BlobServiceClient, ContainerClient } from "@azure/storage-blob";
import { cloudFromEnv } from "./cloud";
import { countCall } from "./callStats";
import { hashRecords, HashedFile, listFiles, sha256File } from "./contentHash";
import { inPool } from "./pool";

export interface BlobTarget {
  /** e.g. https://<account>.blob.core.windows.net (or Azurite's https://127.0.0.1:PORT/devstoreaccount1). */
  readonly blobServiceUrl: string;
  readonly containerName: string;
  readonly credential: TokenCredential;
}

export interface FolderUploadResult {
  /** Folder path inside the container, e.g. LocalUpload/<hash>/<folder name> (no trailing slash). */
  readonly path: string;
  readonly hash: string;
  /** false when a complete upload of the same content was already there and nothing was written. */
  readonly uploaded: boolean;
  readonly files: number;
  readonly bytes: number;
}

export interface UploadProgress {
  readonly file: string;
  readonly done: number;
  readonly total: number;
}

export interface UploadOptions {
  /** Files written at once. @default 8 */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: UploadProgress) => void;
}

/** Metadata the SDK puts on the indicator blob once every file is written. */
export const UPLOAD_CONFIRMATION = { upload_status: "completed" } as const;
export const UPLOAD_ROOT = "LocalUpload";
export const REQUIRED_ROLE = "Storage Blob Data Contributor";

export function contentPath(hash: string, folderName: string): string {
  return `${UPLOAD_ROOT}/${hash}/${folderName}`;
}

/** Raised when storage refuses the caller (401/403): names where and which role is missing. */
export class StorageAccessDeniedError extends Error {
  constructor(
    readonly accountName: string,
    readonly containerName: string,
    readonly statusCode: number,
    readonly errorCode: string | undefined,
  ) {
    super(
      `Access denied to container "${containerName}" in storage account "${accountName}" ` +
        `(HTTP ${statusCode}${errorCode ? ` ${errorCode}` : ""}). The identity signed in through ` +
        `DefaultAzureCredential needs the "${REQUIRED_ROLE}" role on that storage account (or container) ` +
        `to upload; assign it, e.g. az role assignment create --role "${REQUIRED_ROLE}" --assignee <you> ` +
        `--scope <storage account id>, and wait a few minutes for it to apply.`,
    );
    this.name = "StorageAccessDeniedError";
  }
}

/** Account name from a blob service URL: the host's first label, or the first path segment for IP/localhost (Azurite). */
export function accountNameOf(blobServiceUrl: string): string {
  const url = new URL(blobServiceUrl);
  const pathAccount = url.pathname.split("/").filter(Boolean)[0];
  const hostIsAddress = url.hostname === "localhost" || /^[0-9.]+$/.test(url.hostname) || url.hostname.includes(":");
  return hostIsAddress && pathAccount ? pathAccount : url.hostname.split(".")[0];
}

interface RestLikeError {
  statusCode?: number;
  code?: string;
  details?: { errorCode?: string };
}

function isDenied(e: unknown): e is RestLikeError {
  const s = (e as RestLikeError)?.statusCode;
  return s === 401 || s === 403;
}

export async function isUploadComplete(container: ContainerClient, indicatorBlob: string, signal?: AbortSignal): Promise<boolean> {
  try {
    const props = await container.getBlobClient(indicatorBlob).getProperties({ abortSignal: signal });
    return Object.entries(UPLOAD_CONFIRMATION).every(([k, v]) => props.metadata?.[k] === v);
  } catch (e) {
    if ((e as RestLikeError).statusCode === 404) return false;
    throw e;
  }
}

/** Files up to this size are kept in memory from hashing to upload (read once), up to KEEP_TOTAL_BYTES in all. */
const KEEP_FILE_BYTES = 1 << 20;
const KEEP_TOTAL_BYTES = 64 << 20;
/** Larger files are sent in one Put Blob up to the service's limit for one (as uploadFile does). */
const SINGLE_SHOT_BYTES = 256 << 20;
const READ_BUFFER_BYTES = 1 << 20;

interface HashedForUpload {
  readonly hash: string;
  readonly files: HashedFile[];
  /** The bytes of the small files, as hashed. */
  readonly bodies: Map<string, Buffer>;
}

/** lib/contentHash's hashFolder (same records, same hash), keeping small files' bytes for the upload. */
function hashForUpload(dir: string): HashedForUpload {
  const stat = fs.statSync(dir, { throwIfNoEntry: false });
  if (!stat) throw new Error(`${dir}: folder not found (expected a folder of files to hash)`);
  if (!stat.isDirectory()) throw new Error(`${dir}: not a folder (expected a folder of files to hash)`);
  const bodies = new Map<string, Buffer>();
  let kept = 0;
  const files = listFiles(dir).map((rel): HashedFile => {
    const abs = path.join(dir, ...rel.split("/"));
    const size = fs.statSync(abs).size;
    if (size <= KEEP_FILE_BYTES && kept + size <= KEEP_TOTAL_BYTES) {
      const body = fs.readFileSync(abs);
      kept += body.length;
      bodies.set(rel, body);
      return { path: rel, size: body.length, sha256: crypto.createHash("sha256").update(body).digest("hex") };
    }
    return { path: rel, size, sha256: sha256File(abs) };
  });
  return { hash: hashRecords(files), files, bodies };
}

function changedDuringUpload(dir: string, file: string): Error {
  return new Error(`${dir}: files changed during the upload (${file}); it was not marked complete. Run again once the folder is stable.`);
}

/** Writes one file to its blob; throws when the bytes sent are not the bytes hashed (the file changed meanwhile). */
async function putFile(container: ContainerClient, blobName: string, dir: string, f: HashedFile, body: Buffer | undefined, signal?: AbortSignal): Promise<void> {
  const blob = container.getBlockBlobClient(blobName);
  if (body) {
    await blob.upload(body, body.length, { abortSignal: signal });
    return;
  }
  const abs = path.join(dir, ...f.path.split("/"));
  if (f.size > SINGLE_SHOT_BYTES) {
    await blob.uploadFile(abs, { abortSignal: signal });
    if (sha256File(abs) !== f.sha256) throw changedDuringUpload(dir, f.path);
    return;
  }
  // A factory: the SDK calls it again for a retried request, so each attempt hashes what it sends.
  let sent = { hash: crypto.createHash("sha256"), bytes: 0 };
  await blob.upload(
    () => {
      const attempt = { hash: crypto.createHash("sha256"), bytes: 0 };
      sent = attempt;
      const tap = new Transform({
        highWaterMark: READ_BUFFER_BYTES,
        transform(chunk: Buffer, _enc, done) {
          attempt.hash.update(chunk);
          attempt.bytes += chunk.length;
          done(null, chunk);
        },
      });
      const file = fs.createReadStream(abs, { start: 0, end: Math.max(0, f.size - 1), highWaterMark: READ_BUFFER_BYTES });
      file.on("error", (e) => tap.destroy(e));
      return file.pipe(tap);
    },
    f.size,
    { abortSignal: signal },
  );
  if (sent.bytes !== f.size || sent.hash.digest("hex") !== f.sha256) throw changedDuringUpload(dir, f.path);
}

export async function uploadFolder(localDir: string, target: BlobTarget, opts: UploadOptions = {}): Promise<FolderUploadResult> {
  countCall("blob-upload");
  const dir = path.resolve(localDir);
  const folderName = path.basename(dir);
  const { hash, files, bodies } = hashForUpload(dir);
  if (files.length === 0) throw new Error(`${dir}: folder has no files to upload`);
  const prefix = contentPath(hash, folderName);
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const blobName = (f: HashedFile) => `${prefix}/${f.path}`;
  // Sorted by path, as the SDK sorts: the first file carries the completion mark.
  const indicator = blobName(files[0]);

  const container = new BlobServiceClient(target.blobServiceUrl, target.credential, { audience: cloudFromEnv().storageScope }).getContainerClient(target.containerName);
  try {
    if (await isUploadComplete(container, indicator, opts.signal)) {
      return { path: prefix, hash, uploaded: false, files: files.length, bytes };
    }
    let done = 0;
    await inPool(files, opts.concurrency ?? 8, async (f) => {
      // Overwrites an interrupted attempt's blob and, for the indicator, any metadata it had. Content addressing
      // only holds if what was written is what was hashed: a file edited during the upload fails it here, unmarked
      // (so a later run uploads it again), instead of marking wrong content complete.
      await putFile(container, blobName(f), dir, f, bodies.get(f.path), opts.signal);
      bodies.delete(f.path);
      done += 1;
      opts.onProgress?.({ file: f.path, done, total: files.length });
    });
    await container
      .getBlobClient(indicator)
      .setMetadata({ ...UPLOAD_CONFIRMATION, name: folderName, version: hash }, { abortSignal: opts.signal });
  } catch (e) {
    if (isDenied(e)) {
      throw new StorageAccessDeniedError(accountNameOf(target.blobServiceUrl), target.containerName, e.statusCode as number, e.code ?? e.details?.errorCode);
    }
    throw e;
  }
  return { path: prefix, hash, uploaded: true, files: files.length, bytes };
}
