/**
 * Datastore URIs the scripts read and write, parsed and built in one place:
 *   azureml://datastores/<ds>/paths/<path>
 *   azureml://subscriptions/<s>/resourcegroups/<rg>/workspaces/<ws>/datastores/<ds>/paths/<path>
 *   [azureml:]/subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/workspaces/<ws>/datastores/<ds>/paths/<path>
 *     (the datastore's ARM id + /paths/: the form the batch-endpoint REST docs use for outputs)
 *   https://<account>.blob.<suffix>/<container>/<path>   (or any blob service URL + /<container>/<path>)
 */
import type { WorkspaceRef } from "../../../lib/armClient";

export type StorageLocation =
  | { readonly kind: "datastore"; readonly datastore: string; readonly path: string }
  | { readonly kind: "blob"; readonly blobServiceUrl: string; readonly containerName: string; readonly path: string };

/** Folder path without leading slash, with a trailing slash (a blob prefix). */
function asPrefix(p: string): string {
  const t = p.replace(/^\/+/, "");
  return t === "" || t.endsWith("/") ? t : `${t}/`;
}

export function datastoreUri(datastore: string, path: string): string {
  return `azureml://datastores/${datastore}/paths/${asPrefix(path)}`;
}

/**
 * `<datastore ARM id>/paths/<path>`: how the batch-endpoint REST docs (MicrosoftDocs azure-ai-docs,
 * how-to-access-data-batch-endpoints-jobs.md, "Create jobs with data outputs") write an OutputData Uri.
 */
export function datastoreIdPathUri(ws: WorkspaceRef, datastore: string, path: string): string {
  return (
    `/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroupName}` +
    `/providers/Microsoft.MachineLearningServices/workspaces/${ws.workspaceName}/datastores/${datastore}/paths/${asPrefix(path)}`
  );
}

export function parseStorageUri(uri: string): StorageLocation | undefined {
  const ds = /^(?:azureml:\/\/|(?:azureml:)?\/(?=subscriptions\/))(?:subscriptions\/[^/]+\/resource[gG]roups\/[^/]+\/(?:providers\/Microsoft\.MachineLearningServices\/)?workspaces\/[^/]+\/)?datastores\/([^/]+)\/paths\/(.*)$/i.exec(uri);
  if (ds) return { kind: "datastore", datastore: ds[1], path: asPrefix(decodeURIComponent(ds[2])) };
  if (/^https:\/\//i.test(uri)) {
    const u = new URL(uri);
    const parts = u.pathname.split("/").filter(Boolean);
    // Azurite and other IP/localhost endpoints put the account in the path: https://127.0.0.1:PORT/<account>/<container>/…
    const hostIsAddress = u.hostname === "localhost" || /^[0-9.]+$/.test(u.hostname);
    const accountInPath = hostIsAddress ? 1 : 0;
    if (parts.length < accountInPath + 1) return undefined;
    const base = `${u.protocol}//${u.host}${accountInPath ? `/${parts[0]}` : ""}`;
    return { kind: "blob", blobServiceUrl: base, containerName: parts[accountInPath], path: asPrefix(parts.slice(accountInPath + 1).map(decodeURIComponent).join("/")) };
  }
  return undefined;
}

/** Where invoke/run-pipeline ask the service to write the scores: a path named for the invocation. */
export function scoresPath(invocationId: string): string {
  return `scores/${invocationId}/`;
}

/** Where the Azure ML SDK looks for an output the job does not report ([V] notes: azureml/<job>/<output>/). */
export function fallbackOutputPath(jobName: string, output: string): string {
  return `azureml/${jobName}/${output}/`;
}
