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
 */
import * as path from "path";
import type { TokenCredential } from "@azure/core-auth";
import { BlobServiceClient, ContainerClient } from "@azure/storage-blob";
import { cloudFromEnv } from "./cloud";
import { countCall } from "./callStats";
import { hashFolder, HashedFile } from "./contentHash";
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

export async function uploadFolder(localDir: string, target: BlobTarget, opts: UploadOptions = {}): Promise<FolderUploadResult> {
  countCall("blob-upload");
  const dir = path.resolve(localDir);
  const folderName = path.basename(dir);
  const { hash, files } = hashFolder(dir);
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
      // Overwrites an interrupted attempt's blob and, for the indicator, any metadata it had.
      await container.getBlockBlobClient(blobName(f)).uploadFile(path.join(dir, ...f.path.split("/")), { abortSignal: opts.signal });
      done += 1;
      opts.onProgress?.({ file: f.path, done, total: files.length });
    });
    // Content addressing only holds if what was written is what was hashed: a file edited during the upload
    // leaves the upload unmarked (so a later run re-uploads it) instead of marking wrong content complete.
    if (hashFolder(dir).hash !== hash) {
      throw new Error(`${dir}: files changed during the upload; it was not marked complete. Run again once the folder is stable.`);
    }
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
