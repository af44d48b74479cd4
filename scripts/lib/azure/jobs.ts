/**
 * Azure ML jobs through ARM (workspaces/{ws}/jobs): read a job's status, error and outputs; cancel; list the
 * running jobs of a batch endpoint; find the job an invocation created.
 */
import type { AzureMachineLearningWorkspaces } from "@azure/arm-machinelearning";
import { createHttpHeaders, createPipelineRequest, RestError } from "@azure/core-rest-pipeline";
import type { WorkspaceRef } from "../../../lib/armClient";

export const FINAL_JOB_STATUSES = ["Completed", "Failed", "Canceled", "NotResponding", "Paused"] as const;
export function isFinalJobStatus(status: string): boolean {
  return (FINAL_JOB_STATUSES as readonly string[]).includes(status);
}

/** The property invoke and run-pipeline put on the job so a retry can find it. [unconfirmed: whether invoke copies it onto the job] */
export const INVOCATION_PROPERTY = "heart.invocationId";
/** The job property naming the batch endpoint that started it ([V] recorded job: azureml.endpointname). */
export const ENDPOINT_PROPERTY = "azureml.endpointname";
export const DEPLOYMENT_PROPERTY = "azureml.deploymentname";

export interface JobSummary {
  readonly name: string;
  readonly status: string;
  readonly experimentName?: string;
  readonly createdAt?: Date;
  readonly properties: Record<string, string>;
  readonly outputs: Record<string, { uri?: string }>;
  readonly studioUrl?: string;
  readonly error?: { readonly message: string; readonly step?: string; readonly code?: string };
}

type Loose = Record<string, unknown>;

/**
 * The error of a failed job, read loosely. [unconfirmed: ARM's JobBase has no documented error field; the
 * service's message is looked for in properties.error (code/message/target/details), then in the string
 * properties azureml.error / error. Step jobs are not in ARM, so the step comes from the error's target when given.]
 */
export function jobErrorOf(props: Loose): JobSummary["error"] {
  const err = props.error as Loose | undefined;
  if (err && typeof err === "object") {
    const inner = (err.error as Loose | undefined) ?? err;
    const details = Array.isArray(inner.details) ? (inner.details as Loose[]) : [];
    const message = [inner.message, ...details.map((d) => d.message)].filter((m) => typeof m === "string" && m).join(" | ");
    const step = (inner.target as string | undefined) ?? (details.find((d) => d.target)?.target as string | undefined);
    if (message) return { message, step, code: inner.code as string | undefined };
  }
  const strProps = (props.properties ?? {}) as Record<string, string>;
  const text = strProps["azureml.error"] ?? strProps.error;
  return text ? { message: text } : undefined;
}

export function summarizeJob(job: { name?: string; properties?: unknown; systemData?: { createdAt?: Date } }): JobSummary {
  const p = (job.properties ?? {}) as Loose;
  const services = (p.services ?? {}) as Record<string, { endpoint?: string } | null>;
  return {
    name: job.name ?? "",
    status: String(p.status ?? "Unknown"),
    experimentName: p.experimentName as string | undefined,
    createdAt: job.systemData?.createdAt,
    properties: (p.properties ?? {}) as Record<string, string>,
    outputs: (p.outputs ?? {}) as Record<string, { uri?: string }>,
    studioUrl: services.Studio?.endpoint ?? undefined,
    error: jobErrorOf(p),
  };
}

export async function getJob(client: AzureMachineLearningWorkspaces, ws: WorkspaceRef, name: string, signal?: AbortSignal): Promise<JobSummary> {
  const job = await client.jobs.get(ws.resourceGroupName, ws.workspaceName, name, { abortSignal: signal });
  return summarizeJob(job);
}

/**
 * Starts cancellation: an LRO at 2025-12-01 (200 or 202 with a Location header, spec example Job/cancel.json);
 * only the first call is awaited, the wait loop then watches the status. A job already final is left alone.
 */
export async function cancelJob(client: AzureMachineLearningWorkspaces, ws: WorkspaceRef, name: string, signal?: AbortSignal): Promise<"requested" | "already-final"> {
  try {
    await client.jobs.beginCancel(ws.resourceGroupName, ws.workspaceName, name, { abortSignal: signal });
    return "requested";
  } catch (e) {
    // [V] cancelling an ended pipeline job answers 400 CancelPipelineRunInTerminalStatus.
    const r = e as { statusCode?: number; code?: string; message?: string };
    if (r.statusCode === 400 && /TerminalStatus/i.test(`${r.code} ${r.message}`)) return "already-final";
    throw e;
  }
}

export interface ListOptions {
  /**
   * listViewType=ActiveOnly: leaves out archived jobs (ListViewType is about archiving, not run status; the
   * callers filter on status themselves).
   */
  readonly activeOnly?: boolean;
  readonly signal?: AbortSignal;
  /** Stop reading pages once jobs are older than this (lists come newest first). */
  readonly notBefore?: Date;
  /** Stop after this many jobs. @default no limit */
  readonly limit?: number;
}

export async function* listJobs(client: AzureMachineLearningWorkspaces, ws: WorkspaceRef, opts: ListOptions = {}): AsyncGenerator<JobSummary> {
  let n = 0;
  for await (const job of client.jobs.list(ws.resourceGroupName, ws.workspaceName, { listViewType: opts.activeOnly ? "ActiveOnly" : "All", abortSignal: opts.signal })) {
    const s = summarizeJob(job);
    if (opts.notBefore && s.createdAt && s.createdAt < opts.notBefore) return;
    yield s;
    if (++n >= (opts.limit ?? Infinity)) return;
  }
}

/**
 * The endpoint's jobs that are not final. Reads every page: `jobs --cancel` runs before destroy, so an old job
 * still running must not be missed. (The 2.1.1 list options filter only by jobType/tag, not by property.)
 */
export async function runningEndpointJobs(client: AzureMachineLearningWorkspaces, ws: WorkspaceRef, endpoint: string, signal?: AbortSignal): Promise<JobSummary[]> {
  const found: JobSummary[] = [];
  for await (const j of listJobs(client, ws, { activeOnly: true, signal })) {
    if (j.properties[ENDPOINT_PROPERTY] === endpoint && !isFinalJobStatus(j.status)) found.push(j);
  }
  return found;
}

/** True when the job carries this invocation id: the property we set, or its scores output under scores/<id>/. */
export function jobMatchesInvocation(j: JobSummary, invocationId: string): boolean {
  if (j.properties[INVOCATION_PROPERTY] === invocationId) return true;
  return Object.values(j.outputs).some((o) => typeof o?.uri === "string" && o.uri.includes(`/scores/${invocationId}/`));
}

export async function findInvocationJob(
  client: AzureMachineLearningWorkspaces,
  ws: WorkspaceRef,
  invocationId: string,
  opts: { since?: Date; signal?: AbortSignal } = {},
): Promise<JobSummary | undefined> {
  const notBefore = opts.since ? new Date(opts.since.getTime() - 10 * 60_000) : undefined;
  for await (const j of listJobs(client, ws, { notBefore, signal: opts.signal, limit: 500 })) {
    if (jobMatchesInvocation(j, invocationId)) return j;
  }
  return undefined;
}

/**
 * PUT workspaces/{ws}/jobs/{name} with the body as given. Not through client.jobs.createOrUpdate: the SDK's
 * 2.1.1 serializer registers uri_folder inputs/outputs under AssetJobInput instead of JobInput, so a pipeline
 * job's input/output `uri` is silently dropped. The client's own pipeline (auth, retries) still sends it.
 */
export async function putJob(client: AzureMachineLearningWorkspaces, ws: WorkspaceRef, name: string, body: unknown, signal?: AbortSignal): Promise<JobSummary> {
  const url =
    `${client.$host}/subscriptions/${encodeURIComponent(ws.subscriptionId)}/resourceGroups/${encodeURIComponent(ws.resourceGroupName)}` +
    `/providers/Microsoft.MachineLearningServices/workspaces/${encodeURIComponent(ws.workspaceName)}/jobs/${encodeURIComponent(name)}?api-version=${client.apiVersion}`;
  const res = await client.sendRequest(
    createPipelineRequest({ url, method: "PUT", body: JSON.stringify(body), headers: createHttpHeaders({ "content-type": "application/json" }), abortSignal: signal }),
  );
  let parsed: unknown;
  try {
    parsed = res.bodyAsText ? JSON.parse(res.bodyAsText) : undefined;
  } catch {
    parsed = undefined;
  }
  if (res.status < 200 || res.status >= 300) {
    const err = (parsed as { error?: { code?: string; message?: string } })?.error;
    throw new RestError(err?.message ?? `HTTP ${res.status}`, { statusCode: res.status, code: err?.code, request: res.request, response: res as never });
  }
  return summarizeJob(parsed as { name?: string; properties?: unknown });
}
