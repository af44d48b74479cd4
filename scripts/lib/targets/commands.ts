/**
 * What the commands share below their flags: the typed options each CLI parses its flags into
 * (scripts/cli/flags.ts), the checks done before anything is uploaded or started, and the invoke / wait / pull
 * steps for both targets, so `run` and `run-pipeline` are just these steps in a row. Nothing here knows a
 * flag's name. Progress goes to stderr through `log`; results are the CLIs' to print.
 *
 * The Azure SDKs are heavy (0.4 s to load) and needed only once every local check has passed: the Azure
 * target's modules (./azure, and through it @azure/*), the wait loop and the pull code are loaded on first use,
 * so bad flags, a bad input or missing configuration are refused without loading them.
 */
import * as fs from "fs";
import * as path from "path";
import { loadPipeline, PipelineDefinition } from "../../../lib/componentYaml";
import { CliError, ExitCode } from "../exitCodes";
import { envMs } from "../azure/retry";
import { checkInputCells, InputCheckError } from "../input/checkInput";
import { checkInputFolder, InputFolderError } from "../local/inputFolder";
import { pipelineInputEnum } from "../local/plan";
import { safeIdProblem } from "../local/runId";
import { defaultRunsDir } from "../local/runner";
import type { PullResult } from "../pull/pullFiles";
import { resolveSettings, SettingKey, WORKSPACE_KEYS, WorkspaceOptions } from "../stackConfig";
import type { AzureSession } from "./azure";
import type { JobStatusView } from "./waitLoop";

export type Target = "azure" | "local";

/** Where a command's jobs run. */
export type TargetOptions =
  | { readonly target: "azure"; readonly workspace: WorkspaceOptions }
  | {
      readonly target: "local";
      /** Folder of the local runs (<runs-dir>/<run id>/). */
      readonly runsDir: string;
      /** Worker processes of each parallel step; undefined: the runner's default (the CPUs). */
      readonly workers?: number;
    };

/** What starts a job (invoke, run, run-pipeline). */
export interface InvokeOptions {
  /** A local folder, or an azureml:// / https:// folder URI (Azure only). Undefined: refused by the check. */
  readonly input?: string;
  readonly scoreMode: string;
  /** Endpoint only: the deployment to run (else the endpoint's default). */
  readonly deployment?: string;
  readonly experiment?: string;
  /** An earlier invocation's id, to pick up its job instead of starting a second one. */
  readonly invocationId?: string;
}

export interface WaitChoice {
  readonly timeoutMs?: number;
  /** Cancel the job on Ctrl-C before exiting. */
  readonly cancelOnInterrupt: boolean;
}

/** invoke → wait → pull: run (the endpoint) and run-pipeline (the registered pipeline component). */
export interface RunOptions {
  readonly kind: "endpoint" | "pipeline";
  readonly target: TargetOptions;
  readonly invoke: InvokeOptions;
  readonly wait: WaitChoice;
  /** Where the scores go; undefined: scores/<job name>. */
  readonly out?: string;
  /** Overwrite files in `out` that differ (and allow a non-empty `out`). */
  readonly force: boolean;
}

export const PIPELINE_EXPERIMENT = "uci-heart-score-pipeline";

let repoScoreModes: { modes: readonly string[]; defaultMode: string } | undefined;

/** The pipeline's score_mode values and default (components/pipeline.yml, read once per process unless given). */
export function scoreModes(pipeline?: PipelineDefinition): { modes: readonly string[]; defaultMode: string } {
  if (!pipeline && repoScoreModes) return repoScoreModes;
  const p = pipeline ?? loadPipeline();
  const defaultMode = String(p.spec.inputs.score_mode?.default ?? "append");
  const r = { modes: pipelineInputEnum(p, "score_mode") ?? [defaultMode], defaultMode };
  if (!pipeline) repoScoreModes = r;
  return r;
}

export function isRemoteFolderUri(input: string): boolean {
  return /^(azureml|https):\/\//i.test(input);
}

/** The problems with what starts a job that need no file read: invocation id, score mode, input given. */
function invokeOptionProblems(o: InvokeOptions, allowUri: boolean): string[] {
  const problems: string[] = [];
  // The id becomes a datastore path (scores/<id>/) and a job name (heart-<id>): nothing that could escape either.
  if (o.invocationId !== undefined) {
    const p = safeIdProblem(o.invocationId);
    if (p) problems.push(`--invocation-id (or HEART_INVOCATION_ID) '${o.invocationId}' is not valid: ${p}`);
  }
  const { modes } = scoreModes();
  if (!modes.includes(o.scoreMode)) problems.push(`--score-mode must be one of ${modes.join(", ")} (got '${o.scoreMode}')`);
  if (!o.input) problems.push("--input is required: a local folder of CSV files" + (allowUri ? " or an azureml:// / https:// folder URI" : ""));
  else if (isRemoteFolderUri(o.input) && !allowUri) problems.push(`--input ${o.input}: the local target needs a local folder`);
  return problems;
}

/**
 * The header-only check (milliseconds): score mode, invocation id, and for a local folder every CSV's header.
 * local-run uses it (the step then checks the values); the commands that start a job use checkInput.
 */
export function checkInvokeInput(input: string | undefined, scoreMode: string, log: (l: string) => void, allowUri: boolean, invocationId?: string): void {
  const problems = invokeOptionProblems({ input, scoreMode, invocationId }, allowUri);
  if (input && !isRemoteFolderUri(input)) {
    try {
      for (const name of checkInputFolder(input).skipped) log(`warning: ${name} is not a CSV file; it will be skipped`);
    } catch (e) {
      if (!(e instanceof InputFolderError)) throw e;
      problems.push(...e.problems);
    }
  }
  if (problems.length) throw new CliError(ExitCode.Usage, problems.join("\n  "));
}

/**
 * Everything checked before anything is uploaded or started (exit 2, all problems at once): the options, and
 * for a local folder every CSV's header and every cell, as the pipeline would read them.
 */
export async function checkInput(o: InvokeOptions, target: Target, log: (l: string) => void, signal?: AbortSignal): Promise<void> {
  const problems = invokeOptionProblems(o, target === "azure");
  if (problems.length > 0 && o.input && !isRemoteFolderUri(o.input)) {
    // Refused anyway: add what the headers say, without reading every cell first.
    try {
      checkInputFolder(o.input);
    } catch (e) {
      if (!(e instanceof InputFolderError)) throw e;
      problems.push(...e.problems);
    }
  } else if (o.input && !isRemoteFolderUri(o.input)) {
    const started = Date.now();
    try {
      const r = await checkInputCells(o.input, { signal });
      for (const name of r.skipped) log(`warning: ${name} is not a CSV file; it will be skipped`);
      log(`checked ${r.rows} rows in ${r.files.length} file(s) (${(r.bytes / 1048576).toFixed(1)} MiB) in ${Date.now() - started} ms`);
    } catch (e) {
      if (!(e instanceof InputFolderError || e instanceof InputCheckError)) throw e;
      problems.push(...e.problems);
    }
  }
  if (problems.length) throw new CliError(ExitCode.Usage, problems.join("\n  "), "Nothing was uploaded or started.");
}

/**
 * The --out folder, checked before anything is started or downloaded: it must not be a file (nor lie under
 * one), and with `requireEmpty` (run / run-pipeline, whose job costs money) an existing folder must be empty
 * unless `force`: finding the conflict only after the job ran would waste it.
 */
export function checkOutFolder(out: string, o: { force?: boolean; requireEmpty?: boolean } = {}): void {
  const abs = path.resolve(out);
  for (let p = abs; ; p = path.dirname(p)) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(p, { throwIfNoEntry: false });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOTDIR") throw e; // below a file: the loop reaches it
    }
    if (st) {
      if (!st.isDirectory()) throw new CliError(ExitCode.Usage, `--out ${out}: ${p === abs ? "is a file" : `${p} is a file`}, not a folder`, "Give a folder for --out.");
      break;
    }
    if (path.dirname(p) === p) break;
  }
  if (o.requireEmpty && !o.force && fs.existsSync(abs) && fs.readdirSync(abs).length > 0) {
    throw new CliError(ExitCode.Usage, `--out ${out} already exists and is not empty; nothing was started`, "Give another --out folder, or add --force to overwrite files that differ.");
  }
}

/** --runs-dir's default, named in --help and resolved here. */
export const RUNS_DIR_DEFAULT = "<repo>/runs";

export function runsDirFrom(raw: string | undefined): string {
  return raw !== undefined && raw !== "" && raw !== RUNS_DIR_DEFAULT ? path.resolve(raw) : defaultRunsDir();
}

/** For local-run, which parses its own flags: the runs folder from its --runs-dir value. */
export function runsDirOf(values: { readonly "runs-dir"?: unknown }): string {
  const v = values["runs-dir"];
  return runsDirFrom(typeof v === "string" ? v : undefined);
}

/**
 * Opens the Azure target: resolves the settings (flags, variables, stack outputs; missing ones refused), and
 * only then loads the Azure SDKs and signs in.
 */
export async function openAzure(workspace: WorkspaceOptions, required: readonly SettingKey[], optional: readonly SettingKey[], log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<AzureSession> {
  const settings = await resolveSettings([...WORKSPACE_KEYS, ...required], optional, { workspace, env });
  const azure = await import("./azure");
  return azure.openSession(settings, log, env);
}

export interface JobRef {
  readonly target: Target;
  readonly name: string;
  readonly azure?: AzureSession;
  readonly runsDir?: string;
}

/** The job a command names on its target; for Azure, with a session that also holds `optional` settings when available. */
export async function jobRefOf(t: TargetOptions, name: string, optional: readonly SettingKey[], log: (line: string) => void): Promise<JobRef> {
  return t.target === "azure" ? { target: "azure", name, azure: await openAzure(t.workspace, [], optional, log) } : { target: "local", name, runsDir: t.runsDir };
}

function pollFor(ref: JobRef): (signal?: AbortSignal) => Promise<JobStatusView> {
  if (ref.target === "azure") return async (signal) => (await import("./azure")).azureJobView(ref.azure!, ref.name, signal);
  return async () => (await import("./local")).localJobView(ref.runsDir!, ref.name);
}

async function cancel(ref: JobRef): Promise<"requested" | "already-final"> {
  return ref.target === "azure" ? (await import("./azure")).azureCancel(ref.azure!, ref.name) : (await import("./local")).localCancel(ref.runsDir!, ref.name);
}

/** A duration for progress lines: 0.4s, 12s, 3m05s. */
export function secs(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

export interface WaitStepOptions extends Partial<WaitChoice> {
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

/** The first poll interval and its cap: local runs are a file read away, Azure ML is polled gently. */
export function pollIntervals(target: Target, env: NodeJS.ProcessEnv = process.env): { intervalMs: number; maxIntervalMs: number } {
  const intervalMs = envMs(env, "HEART_POLL_INTERVAL_MS", target === "local" ? 500 : 5000);
  return { intervalMs, maxIntervalMs: Math.max(intervalMs, envMs(env, "HEART_POLL_MAX_INTERVAL_MS", target === "local" ? 2000 : 60_000)) };
}

/** Waits for the job; returns when Completed, else throws the CliError with the documented exit code. */
export async function waitStep(ref: JobRef, o: WaitStepOptions): Promise<{ view: JobStatusView; calls: number; elapsedMs: number }> {
  const { waitForFinal, WaitTimeout } = await import("./waitLoop");
  try {
    const r = await waitForFinal({
      poll: pollFor(ref),
      timeoutMs: o.timeoutMs,
      ...pollIntervals(ref.target, o.env),
      signal: o.signal,
      onStatus: (status, elapsed) => status !== "Completed" && o.log(`${ref.name}: ${status} (${secs(elapsed)})`),
      onRetry: (why, ms) => o.log(`${ref.name}: status not available (${why}); retrying in ${secs(ms)}`),
    });
    const v = r.view;
    if (v.status !== "Completed") {
      const where = v.error?.step ? ` in step ${v.error.step}` : "";
      const msg = v.error?.message ? `: ${v.error.message}` : "";
      if (v.studioUrl) o.log(`details: ${v.studioUrl}`);
      throw new CliError(ExitCode.JobFailed, `job ${ref.name} ended ${v.status}${where}${msg}`);
    }
    o.log(`${ref.name}: Completed in ${secs(r.elapsedMs)}`);
    return r;
  } catch (e) {
    if (e instanceof CliError && e.exitCode === ExitCode.Interrupted && o.cancelOnInterrupt) {
      o.log(`canceling job ${ref.name}`);
      const outcome = await cancel(ref);
      o.log(outcome === "requested" ? `cancel requested for ${ref.name}` : `${ref.name} had already ended`);
    }
    if (e instanceof WaitTimeout) throw new CliError(ExitCode.Timeout, `job ${ref.name}: ${e.message}`, `Wait again with 'wait ${ref.name}', or cancel it with 'jobs --cancel'.`);
    throw e;
  }
}

/**
 * Waits until every job is final, whatever the outcome (jobs --cancel: Canceled is the point). Throws exit 3
 * naming the jobs still not final at the timeout.
 */
export async function waitAllFinal(refs: readonly JobRef[], o: { timeoutMs?: number; signal: AbortSignal; log: (line: string) => void; env?: NodeJS.ProcessEnv }): Promise<void> {
  const { waitForFinal, WaitTimeout } = await import("./waitLoop");
  const pending = new Set(refs.map((r) => r.name));
  await Promise.all(
    refs.map(async (ref) => {
      try {
        const r = await waitForFinal({ poll: pollFor(ref), timeoutMs: o.timeoutMs, ...pollIntervals(ref.target, o.env), signal: o.signal });
        pending.delete(ref.name);
        o.log(`${ref.name}: ${r.view.status}`);
      } catch (e) {
        if (!(e instanceof WaitTimeout)) throw e;
      }
    }),
  );
  if (pending.size > 0) throw new CliError(ExitCode.Timeout, `still stopping after the timeout: ${[...pending].join(", ")}`);
}

/** The folder pull writes to: the one given, else scores/<job name>. */
export function outFolderFor(out: string | undefined, jobName: string): string {
  return out ?? path.join("scores", jobName);
}

export async function pullStep(
  ref: JobRef,
  outDir: string,
  o: { force?: boolean; scoresUri?: string; signal: AbortSignal; log: (line: string) => void },
): Promise<PullResult> {
  checkOutFolder(outDir);
  const source = ref.target === "azure" ? await (await import("./azure")).azureScoresSource(ref.azure!, ref.name, o.scoresUri, o.signal) : await (await import("./local")).localScoresSource(ref.runsDir!, ref.name);
  o.log(`pulling ${source.describe} into ${path.resolve(outDir)}`);
  const { pullFiles } = await import("../pull/pullFiles");
  const r = await pullFiles(source, outDir, { force: o.force, signal: o.signal, concurrency: Number(process.env.HEART_DOWNLOAD_CONCURRENCY) || 8 }).catch(async (e) => {
    if (e instanceof CliError) throw e;
    throw (await import("../azure/credential")).toCliError(e, "downloading the scores");
  });
  o.log(`${r.downloaded} file(s) downloaded, ${r.skipped} already there`);
  return r;
}
