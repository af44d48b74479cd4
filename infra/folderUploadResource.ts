/**
 * A local folder uploaded to the workspace's datastore, as a resource in the graph: its inputs name the
 * workspace, the datastore, the folder and its content hash, so a changed file shows in `pulumi preview` as a
 * replacement, and a failed upload fails `pulumi up`. Only create uploads (through lib/folderUpload.ts,
 * skipped when that content is already complete in the datastore); preview runs only the pure `check` and `diff`.
 * `read` (refresh) looks for the upload's completion mark: blobs deleted by hand show the upload as gone, and the
 * next up uploads it again.
 *
 * The URL it reports (`folderUrl`, registered as a code version's codeUri) is built from the datastore's own
 * account and storage suffix, never from HEART_BLOB_ENDPOINT, which only redirects the transfer (lib/datastore.ts).
 *
 * Delete leaves the blobs: they are content-addressed, may be shared with other stacks or SDK uploads of the
 * same content, back retained model/code versions, and cost next to nothing.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { TokenCredential } from "@azure/core-auth";
import { BlobServiceClient } from "@azure/storage-blob";
import { azureCredential } from "../lib/azureCredential";
import { createArmClient } from "../lib/armClient";
import { cloudFromEnv } from "../lib/cloud";
import { countCall } from "../lib/callStats";
import { getBlobDatastore } from "../lib/datastore";
import { FolderUploadResult, StorageAccessDeniedError, UPLOAD_CONFIRMATION, uploadFolder } from "../lib/folderUpload";
import type { WorkspaceRef } from "../lib/naming";
import type { UploadPlan } from "./plan";

export interface FolderUploadInputs extends WorkspaceRef {
  readonly datastoreName: string;
  /** The folder's own name: the last segment of the upload path. */
  readonly folderName: string;
  /** lib/contentHash.ts hash of the folder. */
  readonly hash: string;
  /** The folder, relative to the project directory (POSIX separators). */
  readonly source: string;
}

export interface FolderUploadOutputs extends FolderUploadInputs {
  /** Path inside the container: LocalUpload/<hash>/<folderName>. */
  readonly path: string;
  readonly accountName: string;
  readonly containerName: string;
  /** https URL of the uploaded folder (what a code version's codeUri takes). */
  readonly folderUrl: string;
  readonly files: number;
  readonly bytes: number;
}

export interface ResolvedTarget {
  /** The datastore's own blob service URL: the base of the registered folderUrl. */
  readonly accountBlobUrl: string;
  /** Where the bytes go (the account's URL, or HEART_BLOB_ENDPOINT). */
  readonly blobServiceUrl: string;
  readonly accountName: string;
  readonly containerName: string;
  readonly credential: TokenCredential;
}

/** The edges the provider touches, replaceable in tests. */
export interface FolderUploadSeams {
  resolveTarget(ws: WorkspaceRef, datastoreName: string): Promise<ResolvedTarget>;
  upload(localDir: string, target: ResolvedTarget): Promise<FolderUploadResult>;
  /** Whether a complete upload (its completion mark set) is at `folderPath` in the target's container. */
  isComplete(target: ResolvedTarget, folderPath: string): Promise<boolean>;
  /** Where `source` is relative to. [unconfirmed: Pulumi starts the dynamic provider in the project directory] */
  projectRoot(): string;
}

export const REPLACE_ON_CHANGE: readonly (keyof FolderUploadInputs)[] = [
  "subscriptionId",
  "resourceGroupName",
  "workspaceName",
  "datastoreName",
  "folderName",
  "hash",
];

export function diffFolderUpload(olds: FolderUploadInputs, news: FolderUploadInputs): pulumi.dynamic.DiffResult {
  const replaces = REPLACE_ON_CHANGE.filter((k) => olds[k] !== news[k]);
  // `source` alone moving (same content) needs nothing: the datastore already holds it.
  return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
}

/** Pure: `source` in POSIX form without a leading ./ (the same folder from Windows or Linux is the same input). */
export function checkFolderUpload(news: FolderUploadInputs): { inputs?: FolderUploadInputs; failures?: pulumi.dynamic.CheckFailure[] } {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  for (const k of ["subscriptionId", "resourceGroupName", "workspaceName", "datastoreName", "folderName", "hash", "source"] as const) {
    if (typeof news[k] !== "string" || news[k].trim() === "") failures.push({ property: k, reason: `${k} must be a non-empty string` });
  }
  if (failures.length > 0) return { failures };
  const source = news.source.replace(/\\/g, "/").replace(/^(\.\/)+/, "").replace(/\/+$/, "");
  if (path.posix.basename(source) !== news.folderName) {
    return { failures: [{ property: "folderName", reason: `folderName ${news.folderName} is not the last segment of source ${source}` }] };
  }
  return { inputs: { ...news, source } };
}

export function makeFolderUploadProvider(seams: FolderUploadSeams): pulumi.dynamic.ResourceProvider {
  const targetOf = (i: FolderUploadInputs) =>
    seams.resolveTarget({ subscriptionId: i.subscriptionId, resourceGroupName: i.resourceGroupName, workspaceName: i.workspaceName }, i.datastoreName);
  return {
    async check(_olds: FolderUploadInputs, news: FolderUploadInputs) {
      return checkFolderUpload(news);
    },
    async diff(_id: string, olds: FolderUploadOutputs, news: FolderUploadInputs) {
      return diffFolderUpload(olds, news);
    },
    async create(inputs: FolderUploadInputs) {
      const target = await targetOf(inputs);
      const localDir = path.resolve(seams.projectRoot(), inputs.source);
      if (path.basename(localDir) !== inputs.folderName) {
        throw new Error(`upload of ${inputs.source}: folder name ${path.basename(localDir)} does not match ${inputs.folderName}`);
      }
      const result = await seams.upload(localDir, target);
      if (result.hash !== inputs.hash) {
        throw new Error(
          `${inputs.source} changed while pulumi was running (content hash ${result.hash.slice(0, 12)}, expected ` +
            `${inputs.hash.slice(0, 12)}); nothing was registered from it. Run pulumi up again.`,
        );
      }
      const outs: FolderUploadOutputs = {
        ...inputs,
        path: result.path,
        accountName: target.accountName,
        containerName: target.containerName,
        folderUrl: `${target.accountBlobUrl}/${target.containerName}/${result.path}`,
        files: result.files,
        bytes: result.bytes,
      };
      return { id: `${target.accountName}/${target.containerName}/${result.path}`, outs };
    },
    async read(id: string, olds: FolderUploadOutputs) {
      const target = await targetOf(olds);
      const folderPath = olds.path ?? `LocalUpload/${olds.hash}/${olds.folderName}`;
      // Missing or unfinished (blobs deleted by hand): gone from the state, uploaded again by the next up.
      if (!(await seams.isComplete(target, folderPath))) return { id: "", props: {} };
      return { id, props: olds };
    },
    async delete() {
      // Blobs stay: see the module comment.
    },
  };
}

/** Whether any blob under the folder carries the completion mark lib/folderUpload.ts sets last. */
export async function uploadIsComplete(target: ResolvedTarget, folderPath: string): Promise<boolean> {
  countCall("blob-check");
  const container = new BlobServiceClient(target.blobServiceUrl, target.credential, { audience: cloudFromEnv().storageScope }).getContainerClient(target.containerName);
  try {
    for await (const blob of container.listBlobsFlat({ prefix: `${folderPath}/`, includeMetadata: true })) {
      if (Object.entries(UPLOAD_CONFIRMATION).every(([k, v]) => blob.metadata?.[k] === v)) return true;
    }
  } catch (e) {
    const err = e as { statusCode?: number; code?: string };
    // A refresh by an identity without a data role must not read as "gone" (which would re-upload): say so.
    if (err.statusCode === 401 || err.statusCode === 403) throw new StorageAccessDeniedError(target.accountName, target.containerName, err.statusCode, err.code);
    throw e;
  }
  return false;
}

export const azureFolderUploadSeams: FolderUploadSeams = {
  async resolveTarget(ws, datastoreName) {
    countCall("arm-datastore");
    const credential = azureCredential();
    const ds = await getBlobDatastore(createArmClient(credential, ws), ws, datastoreName);
    return { accountBlobUrl: ds.accountBlobUrl, blobServiceUrl: ds.blobServiceUrl, accountName: ds.accountName, containerName: ds.containerName, credential };
  },
  upload: (localDir, target) => uploadFolder(localDir, target),
  isComplete: (target, folderPath) => uploadIsComplete(target, folderPath),
  projectRoot: () => process.cwd(),
};

/** One provider object for every upload, so Pulumi serializes it once (its cache is keyed by identity). */
const folderUploadProvider = makeFolderUploadProvider(azureFolderUploadSeams);

export type FolderUploadArgs = { readonly [K in keyof FolderUploadInputs]: pulumi.Input<FolderUploadInputs[K]> };

export class FolderUpload extends pulumi.dynamic.Resource {
  declare readonly path: pulumi.Output<string>;
  declare readonly folderUrl: pulumi.Output<string>;
  declare readonly accountName: pulumi.Output<string>;
  declare readonly containerName: pulumi.Output<string>;
  declare readonly hash: pulumi.Output<string>;

  constructor(name: string, args: FolderUploadArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      folderUploadProvider,
      name,
      { ...args, path: undefined, accountName: undefined, containerName: undefined, folderUrl: undefined, files: undefined, bytes: undefined },
      opts,
      "heartscoring",
      "FolderUpload",
    );
  }
}

/** The upload a plan describes (infra/plan.ts), to the given workspace's datastore. */
export function folderUploadFor(upload: UploadPlan, ws: WorkspaceRef, datastoreName: string, opts: pulumi.CustomResourceOptions): FolderUpload {
  return new FolderUpload(
    upload.resourceName,
    { ...ws, datastoreName, folderName: upload.folderName, hash: upload.hash, source: upload.source },
    opts,
  );
}
