/**
 * Azure ML jobs through ARM (workspaces/{ws}/jobs): read a job's status, error and outputs; cancel; list the
 * running jobs of a batch endpoint; find the job an invocation created.
 */
import type { AzureMachineLearningWorkspaces } from "@azure/arm-machinelearning";
import { createHttpHeaders, createPipelineRequest, RestError } from "@azure/core-rest-pipeline";
import type { WorkspaceRef } from "../../../lib/armClient";
import { failedStepOf, StepReadError } from "./runHistory";

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

/**
 * A job's summary. A Failed job's error is completed from its run-history children (the failing step and its
 * message, as azure-ai-ml finds them), read once when the job is seen Failed; `explainFailure: false` skips that.
 */
export async function getJob(client: AzureMachineLearningWorkspaces, ws: WorkspaceRef, name: string, signal?: AbortSignal, opts: { explainFailure?: boolean } = {}): Promise<JobSummary> {
  const job = summarizeJob(await client.jobs.get(ws.resourceGroupName, ws.workspaceName, name, { abortSignal: signal }));
  if (job.status !== "Failed" || job.error?.step || opts.explainFailure === false) return job;
  return { ...job, error: await failureOf(client, ws, job, signal) };
}

/** Where to read a failed job's details when the scripts cannot: Studio and the az ml commands that list its steps. */
export function whereToLook(ws: WorkspaceRef, job: { name: string; studioUrl?: string }): string {
  const scope = `--resource-group ${ws.resourceGroupName} --workspace-name ${ws.workspaceName}`;
  return `see ${job.studioUrl ?? "the job in Azure ML Studio"}, or run 'az ml job show --name ${job.name} ${scope}' and 'az ml job list --parent-job-name ${job.name} ${scope}'`;
}

/** The failing step and its message from the run-history children; when they cannot be read, says where to look. */
export async function failureOf(client: AzureMachineLearningWorkspaces, ws: WorkspaceRef, job: JobSummary, signal?: AbortSignal): Promise<NonNullable<JobSummary["error"]>> {
  try {
    const f = await failedStepOf(client, ws, job.name, signal);
    if (f) return { step: f.step, code: f.code, message: f.message ?? job.error?.message ?? `the step reports no message; ${whereToLook(ws, job)}` };
    return job.error ?? { message: `no step reports a failure; ${whereToLook(ws, job)}` };
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    const why = e instanceof StepReadError ? e.message : ((e as Error).message ?? String(e)).split("\n")[0];
    return { message: `${job.error?.message ? `${job.error.message}; ` : ""}the failing step could not be read (${why}); ${whereToLook(ws, job)}` };
  }
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

/** How far the service's clock may be behind ours when a scan is anchored to the time we sent the request. */
export const CLOCK_SKEW_MS = 10 * 60_000;

/** A workspace-scoped ARM URL: <host>/subscriptions/…/workspaces/<ws>/<rest>?api-version=…&<query>. */
function workspaceUrl(client: AzureMachineLearningWorkspaces, ws: WorkspaceRef, rest: string, query: Record<string, string> = {}): string {
  const e = encodeURIComponent;
  const q = Object.entries({ "api-version": client.apiVersion, ...query }).map(([k, v]) => `${e(k)}=${e(v)}`).join("&");
  return (
    `${client.$host}/subscriptions/${e(ws.subscriptionId)}/resourceGroups/${e(ws.resourceGroupName)}` +
    `/providers/Microsoft.MachineLearningServices/workspaces/${e(ws.workspaceName)}/${rest}?${q}`
  );
}

async function sendArm(client: AzureMachineLearningWorkspaces, url: string, method: "GET" | "PUT", body?: unknown, signal?: AbortSignal): Promise<unknown> {
  const res = await client.sendRequest(
    createPipelineRequest({ url, method, body: body === undefined ? undefined : JSON.stringify(body), headers: createHttpHeaders({ "content-type": "application/json", accept: "application/json" }), abortSignal: signal }),
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
  return parsed;
}

/**
 * Jobs carrying a user property, filtered by the service: Jobs_List's `properties` query parameter at 2025-12-01
 * ("Comma-separated list of user property names (and optionally values). Example: prop1,prop2=value2"; not in
 * the 2.1.1 SDK's options, so the URL is built here). listViewType=All: an archived job still counts.
 */
export async function* jobsWithProperty(client: AzureMachineLearningWorkspaces, ws: WorkspaceRef, name: string, value: string, signal?: AbortSignal): AsyncGenerator<JobSummary> {
  let url: string | undefined = workspaceUrl(client, ws, "jobs", { listViewType: "All", properties: `${name}=${value}` });
  for (let page = 0; url && page < 100; page++) {
    const body = (await sendArm(client, url, "GET", undefined, signal)) as { value?: Array<{ name?: string; properties?: unknown; systemData?: { createdAt?: string } }>; nextLink?: string } | undefined;
    for (const j of body?.value ?? []) yield summarizeJob({ ...j, systemData: j.systemData?.createdAt ? { createdAt: new Date(j.systemData.createdAt) } : undefined });
    url = body?.nextLink || undefined;
  }
}

export interface FindInvocationOptions {
  /**
   * When the request was (about to be) sent: no job of the invocation is older. Given, the jobs list is also
   * scanned back to this time (less CLOCK_SKEW_MS), which finds the job even when the service did not copy our
   * property onto it (its scores output path names the id); not given, only the service-side filter is used.
   */
  readonly since?: Date;
  /** Scan the whole list when `since` is unknown (a last resort: the invocation's time could not be read). */
  readonly scanAll?: boolean;
  readonly signal?: AbortSignal;
}

/**
 * The job an invocation created, however old: first the service-side property filter (one request), then, when
 * the time of sending is known, a scan of the jobs created since then matching the property or the output path
 * scores/<id>/. [unconfirmed: that the list comes newest first, which lets the scan stop at `since`.]
 */
export async function findInvocationJob(
  client: AzureMachineLearningWorkspaces,
  ws: WorkspaceRef,
  invocationId: string,
  opts: FindInvocationOptions = {},
): Promise<JobSummary | undefined> {
  for await (const j of jobsWithProperty(client, ws, INVOCATION_PROPERTY, invocationId, opts.signal)) {
    if (jobMatchesInvocation(j, invocationId)) return j;
  }
  if (!opts.since && !opts.scanAll) return undefined;
  const notBefore = opts.since ? new Date(opts.since.getTime() - CLOCK_SKEW_MS) : undefined;
  for await (const j of listJobs(client, ws, { notBefore, signal: opts.signal })) {
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
  return summarizeJob((await sendArm(client, workspaceUrl(client, ws, `jobs/${encodeURIComponent(name)}`), "PUT", body, signal)) as { name?: string; properties?: unknown });
}
