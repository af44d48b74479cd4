/**
 * Reads a workspace's blob datastore (by default the workspace's default, `workspaceblobstore`): the storage
 * account, container and endpoint are read from the workspace, never constructed from names.
 */
import type { AzureMachineLearningWorkspaces } from "@azure/arm-machinelearning";
import type { WorkspaceRef } from "./armClient";

export const DEFAULT_DATASTORE = "workspaceblobstore";

export interface BlobDatastore {
  readonly name: string;
  readonly accountName: string;
  readonly containerName: string;
  /** Storage DNS suffix as the workspace reports it, e.g. core.windows.net. */
  readonly endpoint: string;
  readonly protocol: string;
  /** e.g. https://<account>.blob.core.windows.net, or HEART_BLOB_ENDPOINT when set. */
  readonly blobServiceUrl: string;
}

export class DatastoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatastoreError";
  }
}

/** The datastore's blob service URL; HEART_BLOB_ENDPOINT overrides it (private endpoints, proxies, Azurite in tests). */
export function blobServiceUrlOf(
  d: { accountName: string; endpoint?: string; protocol?: string },
  env: NodeJS.ProcessEnv = process.env,
): string {
  const override = env.HEART_BLOB_ENDPOINT?.trim();
  if (override) return override.replace(/\/+$/, "");
  return `${d.protocol || "https"}://${d.accountName}.blob.${d.endpoint || "core.windows.net"}`;
}

export async function getBlobDatastore(
  client: AzureMachineLearningWorkspaces,
  ws: WorkspaceRef,
  name: string = DEFAULT_DATASTORE,
  opts: { env?: NodeJS.ProcessEnv; abortSignal?: AbortSignal } = {},
): Promise<BlobDatastore> {
  const res = await client.datastores.get(ws.resourceGroupName, ws.workspaceName, name, { abortSignal: opts.abortSignal });
  // Fields as in the 2025-12-01 spec example Datastore/get.json (datastoreType, accountName, containerName,
  // endpoint, protocol). Read loosely: the SDK's models are older than the API version sent, and unknown fields pass through.
  const p = (res.properties ?? {}) as unknown as Record<string, unknown>;
  const type = String(p.datastoreType ?? "");
  if (type !== "AzureBlob") {
    throw new DatastoreError(
      `datastore '${name}' in workspace ${ws.workspaceName} is of type '${type || "unknown"}', not AzureBlob; ` +
        `give a blob datastore (the workspace default is '${DEFAULT_DATASTORE}')`,
    );
  }
  const accountName = String(p.accountName ?? "");
  const containerName = String(p.containerName ?? "");
  if (!accountName || !containerName) {
    throw new DatastoreError(`datastore '${name}' in workspace ${ws.workspaceName} reports no accountName/containerName`);
  }
  const endpoint = String(p.endpoint ?? "core.windows.net");
  const protocol = String(p.protocol ?? "https");
  return { name, accountName, containerName, endpoint, protocol, blobServiceUrl: blobServiceUrlOf({ accountName, endpoint, protocol }, opts.env) };
}
