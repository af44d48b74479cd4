/**
 * Reads a workspace's blob datastore (by default the workspace's default, `workspaceblobstore`): the storage
 * account, container and endpoint are read from the workspace, never constructed from names.
 *
 * Two URLs, on purpose: `accountBlobUrl` is the datastore's own blob service (its account and storage suffix), the
 * only one that may be written into anything registered in the workspace (a code version's codeUri); and
 * `blobServiceUrl`, where bytes are transferred, which HEART_BLOB_ENDPOINT may redirect (a proxy, a private
 * endpoint's DNS, Azurite in tests). A registered URI that named the override would point every job at it.
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
  /** The datastore's own blob service, e.g. https://<account>.blob.core.windows.net: the base of registered URIs. */
  readonly accountBlobUrl: string;
  /** Where transfers go: accountBlobUrl, or HEART_BLOB_ENDPOINT when set. Never registered anywhere. */
  readonly blobServiceUrl: string;
}

export class DatastoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatastoreError";
  }
}

/** The datastore's own blob service URL, from its account and storage suffix; no override applies. */
export function accountBlobUrlOf(d: { accountName: string; endpoint?: string; protocol?: string }): string {
  return `${d.protocol || "https"}://${d.accountName}.blob.${d.endpoint || "core.windows.net"}`;
}

/** Where transfers go: HEART_BLOB_ENDPOINT when set (private endpoints, proxies, Azurite in tests), else the account's URL. */
export function blobServiceUrlOf(
  d: { accountName: string; endpoint?: string; protocol?: string },
  env: NodeJS.ProcessEnv = process.env,
): string {
  const override = env.HEART_BLOB_ENDPOINT?.trim();
  if (override) return override.replace(/\/+$/, "");
  return accountBlobUrlOf(d);
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
  const d = { accountName, endpoint, protocol };
  return { name, accountName, containerName, endpoint, protocol, accountBlobUrl: accountBlobUrlOf(d), blobServiceUrl: blobServiceUrlOf(d, opts.env) };
}
