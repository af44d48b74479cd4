/**
 * Invoking the batch endpoint (data plane: POST {scoringUri} with an ml.azure.com token) so that one
 * invocation starts at most one job, even when the answer is lost (sdk-for-python #31166):
 *  - each invocation has an id, written into the job's scores output path (scores/<id>/) and a job property;
 *  - 429 means "not accepted": wait Retry-After and send again;
 *  - a timeout, a dropped connection or a 5xx after sending is ambiguous: first look for a job carrying the
 *    id, and only send again when none exists;
 *  - the id is printed, with the command that resumes it, before the request leaves, so a kill loses nothing;
 *  - an invocation marker (invocationMarker.ts) records "sending" before the request and the job's name after
 *    the answer: a re-run with the same id GETs the named job, or searches only the jobs created since the
 *    send, however long ago that was (no fixed window, never the whole workspace).
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
import * as fs from "fs";
import * as path from "path";
import type { WorkspaceRef } from "../../../lib/armClient";
import { CliError, ExitCode } from "../exitCodes";
import { cloudScopes, toCliError } from "./credential";
import { datastoreIdPathUri, parseStorageUri } from "./datastorePaths";
import { findInvocationJob, getJob, INVOCATION_PROPERTY, jobMatchesInvocation, JobSummary } from "./jobs";
import type { InvocationMarker, MarkerStore } from "./invocationMarker";
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
  /** Where the invocation marker is kept (see invocationMarker.ts). Without it, lookups rely on the jobs list alone. */
  readonly markers?: MarkerStore;
  /** The command that resumes this invocation (printed before the request is sent). @default resumeCommand(id) */
  readonly resumeCommand?: (invocationId: string) => string;
  /** The clock (tests). */
  readonly now?: () => Date;
}

/** Shell-quotes one argument when it needs it. */
function shq(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/**
 * The exact command that resumes an invocation: this process's own arguments with --invocation-id set to `id`,
 * as `npm run <script> --` when started through npm, else through the CLIs' launcher (scripts/cli/launch.js)
 * when it sits beside the script, else `npx ts-node <script>`.
 */
export function resumeCommand(id: string, argv: readonly string[] = process.argv, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  const args: string[] = [];
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === "--invocation-id") i++;
    else if (!argv[i].startsWith("--invocation-id=")) args.push(argv[i]);
  }
  const script = argv[1] || path.join(__dirname, "..", "..", "cli", "invoke.ts");
  const launcher = path.join(path.dirname(script), "launch.js");
  const prefix = env.npm_lifecycle_event
    ? `npm run ${env.npm_lifecycle_event} --`
    : fs.existsSync(launcher)
      ? `node ${shq(path.relative(cwd, launcher))} ${shq(path.basename(script, ".ts"))}`
      : `npx ts-node ${shq(path.relative(cwd, script) || script)}`;
  return [prefix, ...args.map(shq), "--invocation-id", id].join(" ");
}

/** The line printed before a request that may start a job: the id, and how to resume it without a second job. */
export function resumeLine(id: string, command: string): string {
  return `invocation ${id}: sending the request; if this is interrupted, resume with the same id (it never starts a second job):\n  ${command}`;
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
  pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential, scopes: cloudScopes().ml }));
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
/** Invokes once, idempotently: at most one job per invocation id. */
export async function invokeIdempotent(req: InvokeRequest, ctx: InvokeContext): Promise<InvokeResult> {
  const env = ctx.env ?? process.env;
  const log = ctx.log ?? (() => undefined);
  const now = ctx.now ?? (() => new Date());
  const maxAttempts = Math.max(1, envMs(env, "HEART_INVOKE_ATTEMPTS", 6));
  const baseMs = envMs(env, "HEART_RETRY_BASE_MS", 2000);
  const capMs = envMs(env, "HEART_RETRY_MAX_MS", 60_000);
  const timeoutMs = envMs(env, "HEART_INVOKE_TIMEOUT_MS", 120_000);
  const lookupTries = Math.max(1, envMs(env, "HEART_INVOKE_LOOKUP_TRIES", 3));
  const lookupDelayMs = envMs(env, "HEART_INVOKE_LOOKUP_DELAY_MS", 5000);
  const id = req.invocationId;

  /** Retries a lookup step while the service is unavailable; other errors end the invocation (nothing sent). */
  const withRetries = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    for (let i = 1; ; i++) {
      try {
        return await f();
      } catch (e) {
        const err = toCliError(e, what);
        if (err.exitCode !== ExitCode.Unavailable || i >= lookupTries) throw err;
        log(`${what}: ${err.message}; trying again`);
        await sleep(lookupDelayMs, ctx.signal);
      }
    }
  };

  const writeMarker = async (m: InvocationMarker): Promise<boolean> => {
    if (!ctx.markers) return false;
    try {
      await ctx.markers.write(m, ctx.signal);
      return true;
    } catch (e) {
      if (ctx.signal?.aborted) throw toCliError(e, "recording the invocation");
      log(`warning: could not record invocation ${id} at ${ctx.markers.where(id)} (${toCliError(e, "writing").message}); a re-run with this id finds its job through the jobs list only`);
      return false;
    }
  };

  /** A job this invocation created: the one the marker names, else the jobs list (since `since`). */
  const lookup = async (since: Date | undefined, marker?: InvocationMarker): Promise<JobSummary | undefined> => {
    if (marker?.jobName) {
      try {
        const job = await withRetries(`reading job ${marker.jobName}`, () => getJob(ctx.arm, ctx.ws, marker.jobName!, ctx.signal, { explainFailure: false }));
        if (jobMatchesInvocation(job, id)) return job;
        log(`warning: job ${marker.jobName} named by ${ctx.markers?.where(id)} does not carry invocation ${id}; searching the jobs list`);
      } catch (e) {
        if (!(e instanceof CliError && /not found/.test(e.message))) throw e;
        log(`job ${marker.jobName} named by ${ctx.markers?.where(id)} no longer exists`);
        return undefined;
      }
    }
    for (let i = 0; i < lookupTries; i++) {
      if (i > 0) await sleep(lookupDelayMs, ctx.signal);
      const job = await withRetries("looking for the job of this invocation", () => findInvocationJob(ctx.arm, ctx.ws, id, { since, signal: ctx.signal }));
      if (job) return job;
      // A job is listed moments after it is created: look again only when a request may just have gone out.
      if (!since || now().getTime() - since.getTime() > 10 * 60_000) break;
    }
    return undefined;
  };

  if (ctx.lookupFirst) {
    let marker: InvocationMarker | undefined;
    let markerRead = false;
    if (ctx.markers) {
      try {
        marker = await withRetries(`reading ${ctx.markers.where(id)}`, () => ctx.markers!.read(id, ctx.signal));
        markerRead = true;
      } catch (e) {
        if (e instanceof CliError && e.exitCode === ExitCode.Interrupted) throw e;
        log(`warning: could not read ${ctx.markers.where(id)} (${(e as Error).message}); searching the whole jobs list instead`);
      }
    }
    // A marker: the job it names, or the jobs created since it was written. None (read fine): this id never
    // reached the sending step, so the service-side filter alone is enough. Unreadable: the whole list.
    const existing = marker
      ? await lookup(new Date(marker.sentAt), marker)
      : await withRetries("looking for the job of this invocation", () => findInvocationJob(ctx.arm, ctx.ws, id, { scanAll: !markerRead, signal: ctx.signal }));
    if (existing) {
      if (marker?.state !== "created") await writeMarker({ invocationId: id, state: "created", sentAt: marker?.sentAt ?? now().toISOString(), jobName: existing.name });
      return { jobName: existing.name, reused: true, attempts: 0 };
    }
  }

  const pipeline = dataPlanePipeline(ctx.credential);
  const client = createDefaultHttpClient();
  const body = JSON.stringify(invokeBody(req, ctx.ws));
  log(resumeLine(id, (ctx.resumeCommand ?? ((i: string) => resumeCommand(i)))(id)));
  const sentAt = now();
  const recorded = await writeMarker({ invocationId: id, state: "sending", sentAt: sentAt.toISOString() });
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
        throw toCliError(e, `getting a token for ${cloudScopes().ml}`);
      }
      // Dropped connection, timeout, reset: the request may have reached the service.
      outcome = { kind: "ambiguous", why: r.code ?? r.message ?? String(e) };
    }
    if (outcome.kind === "created") {
      if (recorded) await writeMarker({ invocationId: id, state: "created", sentAt: sentAt.toISOString(), jobName: outcome.jobName });
      return { jobName: outcome.jobName, reused: false, attempts: attempt };
    }
    if (outcome.kind === "refused") throw outcome.error;
    lastWhy = outcome.why;
    const waitMs = retryDelay(outcome.waitMs, backoff(attempt - 1, baseMs, capMs));
    if (outcome.kind === "throttled") {
      log(`endpoint throttled the invocation (${outcome.why}); sending again in ${Math.round(waitMs / 1000)}s`);
      await sleep(waitMs, ctx.signal);
      continue;
    }
    log(`no clear answer from the endpoint (${outcome.why}); checking whether the job was created before sending again`);
    const existing = await lookup(sentAt);
    if (existing) {
      if (recorded) await writeMarker({ invocationId: id, state: "created", sentAt: sentAt.toISOString(), jobName: existing.name });
      return { jobName: existing.name, reused: true, attempts: attempt };
    }
    if (attempt < maxAttempts) await sleep(waitMs, ctx.signal);
  }
  throw new CliError(ExitCode.Unavailable, `invoking the endpoint failed after ${maxAttempts} attempts (last: ${lastWhy}); no job was created for invocation ${id}`, `Re-run with --invocation-id ${id} to pick up a job that may appear late instead of starting a second one.`);
}
