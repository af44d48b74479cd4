/**
 * The failing step of a failed pipeline job, read the way azure-ai-ml reads a pipeline job's steps: ARM does not
 * list child jobs, so `ml_client.jobs.list(parent_job_name=…)` goes to the run-history service
 * (operations/_job_operations.py `list` → `_runs_operations.get_run_children`, _restclient/runhistory `get_child`):
 *
 *   workspace GET (ARM)                      → properties.discoveryUrl
 *   GET discoveryUrl (no token)              → { "api": "<run-history host>", … }   (WorkspaceDiscoveryUrlKey.API)
 *   GET {api}/history/v1.0/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/
 *       workspaces/{ws}/runs/{runId}/children                       (ARM-scoped token, as the SDK's client uses)
 *     → PaginatedRunList { value: Run[], continuationToken?, nextLink? }; the SDK follows nextLink.
 *
 * Run fields used (runhistory models `Run`): runId, displayName, name, status, error (ErrorResponse:
 * { error: RootError { code, message, target, details[] } }). A step that is itself a pipeline is read one level
 * further down. Anything that cannot be read yields a `StepReadError`, so the caller can say where to look instead.
 */
import type { AzureMachineLearningWorkspaces } from "@azure/arm-machinelearning";
import { createDefaultHttpClient, createHttpHeaders, createPipelineRequest } from "@azure/core-rest-pipeline";
import type { WorkspaceRef } from "../../../lib/armClient";

export interface FailedStep {
  /** The step's display name (the pipeline node name), else its run id. */
  readonly step: string;
  readonly message?: string;
  readonly code?: string;
  readonly runId: string;
}

export class StepReadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StepReadError";
  }
}

interface RunLike {
  runId?: string;
  displayName?: string;
  name?: string;
  status?: string;
  error?: { error?: { code?: string; message?: string; details?: Array<{ message?: string }> } } | null;
}

async function getJson(send: () => Promise<{ status: number; bodyAsText?: string | null }>, what: string): Promise<unknown> {
  let res;
  try {
    res = await send();
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new StepReadError(`${what}: ${(e as Error).message?.split("\n")[0] ?? String(e)}`);
  }
  let body: unknown;
  try {
    body = res.bodyAsText ? JSON.parse(res.bodyAsText) : undefined;
  } catch {
    body = undefined;
  }
  if (res.status < 200 || res.status >= 300) {
    const msg = (body as { error?: { message?: string } })?.error?.message;
    throw new StepReadError(`${what}: HTTP ${res.status}${msg ? `: ${msg}` : ""}`);
  }
  return body;
}

/** The run-history host of a workspace: its discovery document's `api` entry. */
export async function runHistoryHost(client: AzureMachineLearningWorkspaces, ws: WorkspaceRef, signal?: AbortSignal): Promise<string> {
  let discoveryUrl: string | undefined;
  try {
    const w = await client.workspaces.get(ws.resourceGroupName, ws.workspaceName, { abortSignal: signal });
    discoveryUrl = w.discoveryUrl;
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    const status = (e as { statusCode?: number }).statusCode;
    throw new StepReadError(`reading workspace ${ws.workspaceName}: ${status ? `HTTP ${status}: ` : ""}${(e as Error).message?.split("\n")[0]}`);
  }
  if (!discoveryUrl) throw new StepReadError(`workspace ${ws.workspaceName} reports no discoveryUrl`);
  const http = createDefaultHttpClient();
  const doc = (await getJson(
    () => http.sendRequest(createPipelineRequest({ url: discoveryUrl!, method: "GET", abortSignal: signal, headers: createHttpHeaders({ accept: "application/json" }) })),
    `reading the workspace discovery document ${discoveryUrl}`,
  )) as { api?: string } | undefined;
  if (!doc?.api) throw new StepReadError(`the workspace discovery document ${discoveryUrl} has no 'api' entry`);
  return doc.api.replace(/\/+$/, "");
}

export function childrenUrl(host: string, ws: WorkspaceRef, runId: string): string {
  const e = encodeURIComponent;
  return (
    `${host}/history/v1.0/subscriptions/${e(ws.subscriptionId)}/resourceGroups/${e(ws.resourceGroupName)}` +
    `/providers/Microsoft.MachineLearningServices/workspaces/${e(ws.workspaceName)}/runs/${e(runId)}/children`
  );
}

/** Every child run of `runId` (all pages). */
export async function runChildren(client: AzureMachineLearningWorkspaces, host: string, ws: WorkspaceRef, runId: string, signal?: AbortSignal): Promise<RunLike[]> {
  const runs: RunLike[] = [];
  let url: string | undefined = childrenUrl(host, ws, runId);
  for (let page = 0; url && page < 50; page++) {
    const u: string = url;
    const body = (await getJson(
      () => client.sendRequest(createPipelineRequest({ url: u, method: "GET", abortSignal: signal, headers: createHttpHeaders({ accept: "application/json" }) })),
      `reading the steps of job ${runId}`,
    )) as { value?: RunLike[]; nextLink?: string | null } | undefined;
    runs.push(...(body?.value ?? []));
    url = body?.nextLink || undefined;
  }
  return runs;
}

function messageOf(r: RunLike): { message?: string; code?: string } {
  const root = r.error?.error;
  if (!root) return {};
  const message = [root.message, ...(root.details ?? []).map((d) => d.message)].filter((m) => typeof m === "string" && m).join(" | ");
  return { message: message || undefined, code: root.code };
}

/**
 * The first failed step of a job (run-history children with status Failed), descending into a failed step
 * that has no message of its own (a sub-pipeline). undefined when no child failed.
 */
export async function failedStepOf(client: AzureMachineLearningWorkspaces, ws: WorkspaceRef, jobName: string, signal?: AbortSignal): Promise<FailedStep | undefined> {
  const host = await runHistoryHost(client, ws, signal);
  let runId = jobName;
  let path: string[] = [];
  for (let depth = 0; depth < 3; depth++) {
    const failed = (await runChildren(client, host, ws, runId, signal)).filter((r) => r.status === "Failed");
    if (failed.length === 0) return path.length ? { step: path.join("/"), runId } : undefined;
    const withMessage = failed.find((r) => messageOf(r).message) ?? failed[0];
    path = [...path, withMessage.displayName || withMessage.name || withMessage.runId || "?"];
    const m = messageOf(withMessage);
    if (m.message || !withMessage.runId) return { step: path.join("/"), runId: withMessage.runId ?? runId, ...m };
    runId = withMessage.runId;
  }
  return { step: path.join("/"), runId };
}
