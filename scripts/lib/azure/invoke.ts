/**
 * Invoking the batch endpoint (data plane: POST {scoringUri} with an ml.azure.com token) so that one
 * invocation starts at most one job, even when the answer is lost (sdk-for-python #31166):
 *  - each invocation has an id, written into the job's scores output path (scores/<id>/) and a job property;
 *  - 429 means "not accepted": wait Retry-After and send again;
 *  - a timeout, a dropped connection or a 5xx after sending is ambiguous: first look for a job carrying the
 *    id (ARM jobs list), and only send again when none exists.
 */
import type { AzureMachineLearningWorkspaces } from "@azure/arm-machinelearning";
import type { TokenCredential } from "@azure/core-auth";
import {
  bearerTokenAuthenticationPolicy,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  createDefaultHttpClient,
  Pipeline,
  PipelineResponse,
} from "@azure/core-rest-pipeline";
import { randomUUID } from "crypto";
import type { WorkspaceRef } from "../../../lib/armClient";
import { CliError, ExitCode } from "../exitCodes";
import { ML_SCOPE, toCliError } from "./credential";
import { datastoreIdPathUri, parseStorageUri } from "./datastorePaths";
import { findInvocationJob, INVOCATION_PROPERTY, JobSummary } from "./jobs";
import { backoff, envMs, parseRetryAfter, retryDelay, sleep } from "./retry";

export interface InvokeRequest {
  /** azureml://datastores/<ds>/paths/<p>/ or https://… folder. */
  readonly inputUri: string;
  readonly scoreMode: string;
  /** Where the pipeline's `scores` output goes (a datastore folder URI). */
  readonly scoresUri: string;
  readonly invocationId: string;
  readonly experimentName?: string;
}

export function newInvocationId(): string {
  return randomUUID();
}

/**
 * The invoke body. Keys as the batch-endpoint REST docs write them (PascalCase: MicrosoftDocs azure-ai-docs,
 * how-to-access-data-batch-endpoints-jobs.md); azure-ai-ml sends the same keys camelCase (BatchJobResource in
 * _restclient/v2020_09_01_dataplanepreview, operations/_batch_endpoint_operations.py `invoke`), so the service
 * reads both. A datastore input goes as given (the SDK passes azureml://datastores/… through untouched); the
 * scores output goes as `<datastore ARM id>/paths/<path>`, the only form the docs show for OutputData.
 * The inner `properties` (string map) is a field of the data-plane BatchJob. [unconfirmed: that its entries
 * (our invocation id) are copied onto the ARM job; the output path carries the id as well, so lookups work either way.]
 */
export function invokeBody(r: InvokeRequest, ws: WorkspaceRef): Record<string, unknown> {
  const properties: Record<string, string> = { [INVOCATION_PROPERTY]: r.invocationId };
  if (r.experimentName) properties.experimentName = r.experimentName;
  const out = parseStorageUri(r.scoresUri);
  const scoresUri = out?.kind === "datastore" ? datastoreIdPathUri(ws, out.datastore, out.path) : r.scoresUri;
  return {
    properties: {
      InputData: {
        input_data: { JobInputType: "UriFolder", Uri: r.inputUri },
        score_mode: { JobInputType: "Literal", Value: r.scoreMode },
      },
      OutputData: {
        scores: { JobOutputType: "UriFolder", Uri: scoresUri },
      },
      properties,
    },
  };
}

/** The job name from the invoke answer: `name`, else the last segment of `id`. */
export function jobNameFromAnswer(body: unknown): string | undefined {
  const b = body as { name?: unknown; id?: unknown };
  if (typeof b?.name === "string" && b.name) return b.name;
  if (typeof b?.id === "string" && b.id) return b.id.split("/").filter(Boolean).pop();
  return undefined;
}

export interface InvokeContext {
  readonly credential: TokenCredential;
  readonly arm: AzureMachineLearningWorkspaces;
  readonly ws: WorkspaceRef;
  readonly scoringUri: string;
  /** Sent as azureml-model-deployment when set. */
  readonly deployment?: string;
  readonly signal?: AbortSignal;
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: (line: string) => void;
  /** Look for an existing job with this invocation id before sending (a re-run with --invocation-id). */
  readonly lookupFirst?: boolean;
}

export interface InvokeResult {
  readonly jobName: string;
  /** true when an earlier attempt had already created the job. */
  readonly reused: boolean;
  readonly attempts: number;
}

function dataPlanePipeline(credential: TokenCredential): Pipeline {
  // No automatic retries: a blind re-send is exactly what must not happen here.
  const pipeline = createPipelineFromOptions({ retryOptions: { maxRetries: 0 } });
  pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential, scopes: ML_SCOPE }));
  return pipeline;
}

type Outcome =
  | { kind: "created"; jobName: string }
  | { kind: "throttled"; waitMs?: number; why: string }
  | { kind: "ambiguous"; why: string; waitMs?: number }
  | { kind: "refused"; error: CliError };

function classify(res: PipelineResponse): Outcome {
  let body: unknown;
  try {
    body = res.bodyAsText ? JSON.parse(res.bodyAsText) : undefined;
  } catch {
    body = undefined;
  }
  const msg = ((body as { error?: { message?: string; code?: string } })?.error?.message ?? res.bodyAsText ?? "").slice(0, 600);
  const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
  if (res.status >= 200 && res.status < 300) {
    const jobName = jobNameFromAnswer(body);
    if (jobName) return { kind: "created", jobName };
    return { kind: "ambiguous", why: `HTTP ${res.status} without a job name` };
  }
  if (res.status === 429) return { kind: "throttled", waitMs: retryAfter, why: "HTTP 429" };
  if (res.status === 408 || res.status >= 500) return { kind: "ambiguous", why: `HTTP ${res.status}${msg ? `: ${msg.split("\n")[0]}` : ""}`, waitMs: retryAfter };
  if (res.status === 401 || res.status === 403) {
    return { kind: "refused", error: toCliError({ statusCode: res.status, message: msg || "access refused" }, "invoking the endpoint") };
  }
  return { kind: "refused", error: new CliError(ExitCode.Usage, `the endpoint refused the invocation: HTTP ${res.status}${msg ? `: ${msg}` : ""}`) };
}

/** Invokes once, idempotently: at most one job per invocation id. */
export async function invokeIdempotent(req: InvokeRequest, ctx: InvokeContext): Promise<InvokeResult> {
  const env = ctx.env ?? process.env;
  const log = ctx.log ?? (() => undefined);
  const maxAttempts = Math.max(1, envMs(env, "HEART_INVOKE_ATTEMPTS", 6));
  const baseMs = envMs(env, "HEART_RETRY_BASE_MS", 2000);
  const capMs = envMs(env, "HEART_RETRY_MAX_MS", 60_000);
  const timeoutMs = envMs(env, "HEART_INVOKE_TIMEOUT_MS", 120_000);
  const lookupTries = Math.max(1, envMs(env, "HEART_INVOKE_LOOKUP_TRIES", 3));
  const lookupDelayMs = envMs(env, "HEART_INVOKE_LOOKUP_DELAY_MS", 5000);
  const since = new Date();

  const lookup = async (): Promise<JobSummary | undefined> => {
    for (let i = 0; i < lookupTries; i++) {
      if (i > 0) await sleep(lookupDelayMs, ctx.signal);
      try {
        const job = await findInvocationJob(ctx.arm, ctx.ws, req.invocationId, { since, signal: ctx.signal });
        if (job) return job;
      } catch (e) {
        const err = toCliError(e, "looking for the job of this invocation");
        if (err.exitCode !== ExitCode.Unavailable) throw err;
        log(`could not list jobs yet (${err.message}); trying again`);
      }
    }
    return undefined;
  };

  if (ctx.lookupFirst) {
    const existing = await lookup();
    if (existing) return { jobName: existing.name, reused: true, attempts: 0 };
  }

  const pipeline = dataPlanePipeline(ctx.credential);
  const client = createDefaultHttpClient();
  const body = JSON.stringify(invokeBody(req, ctx.ws));
  let lastWhy = "";
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const headers = createHttpHeaders({ "content-type": "application/json", accept: "application/json" });
    if (ctx.deployment) headers.set("azureml-model-deployment", ctx.deployment);
    const request = createPipelineRequest({ url: ctx.scoringUri, method: "POST", headers, body, timeout: timeoutMs, abortSignal: ctx.signal });
    let outcome: Outcome;
    try {
      outcome = classify(await pipeline.sendRequest(client, request));
    } catch (e) {
      if (ctx.signal?.aborted) throw toCliError(e, "invoking the endpoint");
      const r = e as { name?: string; statusCode?: number; code?: string; message?: string };
      if (r.name === "CredentialUnavailableError" || r.name === "AuthenticationError" || r.name === "AggregateAuthenticationError") {
        throw toCliError(e, "getting a token for https://ml.azure.com");
      }
      // Dropped connection, timeout, reset: the request may have reached the service.
      outcome = { kind: "ambiguous", why: r.code ?? r.message ?? String(e) };
    }
    if (outcome.kind === "created") return { jobName: outcome.jobName, reused: false, attempts: attempt };
    if (outcome.kind === "refused") throw outcome.error;
    lastWhy = outcome.why;
    const waitMs = retryDelay(outcome.waitMs, backoff(attempt - 1, baseMs, capMs));
    if (outcome.kind === "throttled") {
      log(`endpoint throttled the invocation (${outcome.why}); sending again in ${Math.round(waitMs / 1000)}s`);
      await sleep(waitMs, ctx.signal);
      continue;
    }
    log(`no clear answer from the endpoint (${outcome.why}); checking whether the job was created before sending again`);
    const existing = await lookup();
    if (existing) return { jobName: existing.name, reused: true, attempts: attempt };
    if (attempt < maxAttempts) await sleep(waitMs, ctx.signal);
  }
  throw new CliError(ExitCode.Unavailable, `invoking the endpoint failed after ${maxAttempts} attempts (last: ${lastWhy}); no job was created for invocation ${req.invocationId}`, `Re-run with --invocation-id ${req.invocationId} to pick up a job that may appear late instead of starting a second one.`);
}
