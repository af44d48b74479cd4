/**
 * A local folder uploaded to the workspace's datastore, as a resource in the graph: its inputs name the
 * workspace, the datastore, the folder and its content hash, so a changed file shows in `pulumi preview` as a
 * replacement, and a failed upload fails `pulumi up`. Only create uploads (through lib/folderUpload.ts,
 * skipped when that content is already complete in the datastore); preview runs only the pure `diff`.
 *
 * Delete leaves the blobs: they are content-addressed, may be shared with other stacks or SDK uploads of the
 * same content, back retained model/code versions, and cost next to nothing.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { TokenCredential } from "@azure/core-auth";
import { DefaultAzureCredential } from "@azure/identity";
import { createArmClient } from "../lib/armClient";
import { countCall } from "../lib/callStats";
import { getBlobDatastore } from "../lib/datastore";
import { FolderUploadResult, uploadFolder } from "../lib/folderUpload";
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
  readonly blobServiceUrl: string;
  readonly accountName: string;
  readonly containerName: string;
  readonly credential: TokenCredential;
}

/** The edges the provider touches, replaceable in tests. */
export interface FolderUploadSeams {
  resolveTarget(ws: WorkspaceRef, datastoreName: string): Promise<ResolvedTarget>;
  upload(localDir: string, target: ResolvedTarget): Promise<FolderUploadResult>;
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

export function makeFolderUploadProvider(seams: FolderUploadSeams): pulumi.dynamic.ResourceProvider {
  return {
    async diff(_id: string, olds: FolderUploadOutputs, news: FolderUploadInputs) {
      return diffFolderUpload(olds, news);
    },
    async create(inputs: FolderUploadInputs) {
      const ws = { subscriptionId: inputs.subscriptionId, resourceGroupName: inputs.resourceGroupName, workspaceName: inputs.workspaceName };
      const target = await seams.resolveTarget(ws, inputs.datastoreName);
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
        folderUrl: `${target.blobServiceUrl}/${target.containerName}/${result.path}`,
        files: result.files,
        bytes: result.bytes,
      };
      return { id: `${target.accountName}/${target.containerName}/${result.path}`, outs };
    },
    async delete() {
      // Blobs stay: see the module comment.
    },
  };
}

export const azureFolderUploadSeams: FolderUploadSeams = {
  async resolveTarget(ws, datastoreName) {
    countCall("arm-datastore");
    const credential = new DefaultAzureCredential();
    const ds = await getBlobDatastore(createArmClient(credential, ws), ws, datastoreName);
    return { blobServiceUrl: ds.blobServiceUrl, accountName: ds.accountName, containerName: ds.containerName, credential };
  },
  upload: (localDir, target) => uploadFolder(localDir, target),
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
