/**
 * What the CLIs share: the --target switch, flag sets, the up-front input checks, and the invoke / wait /
 * pull steps for both targets, so `run` and `run-pipeline` are just these steps in a row. Progress goes to
 * stderr; results (job names, folders, JSON) to stdout.
 */
import * as fs from "fs";
import * as path from "path";
import { loadPipeline, PipelineDefinition } from "../../../lib/componentYaml";
import { CommandSpec, FlagSpec, FlagValues, parseDurationSeconds, stringFlag } from "../cli";
import { CliError, ExitCode } from "../exitCodes";
import { toCliError } from "../azure/credential";
import { envMs } from "../azure/retry";
import { checkInputFolder, InputFolderError } from "../local/inputFolder";
import { pipelineInputEnum } from "../local/plan";
import { safeIdProblem } from "../local/runId";
import { defaultRunsDir } from "../local/runner";
import { pullFiles, PullResult } from "../pull/pullFiles";
import { CONFIG_HELP, settingFlags, SettingKey } from "../stackConfig";
import { AzureSession, PIPELINE_EXPERIMENT, azureCancel, azureJobView, azureScoresSource, isRemoteFolderUri, openAzure } from "./azure";
import { localCancel, localJobView, localScoresSource } from "./local";
import { JobStatusView, waitForFinal, WaitTimeout } from "./waitLoop";

export type Target = "azure" | "local";

/** util.parseArgs rejects `multiple: undefined`, which scripts/lib/cli.ts passes for flags that leave it out. */
export function defineCommand(spec: CommandSpec): CommandSpec {
  for (const f of Object.values(spec.flags)) (f as { multiple?: boolean }).multiple ??= false;
  return spec;
}

export function targetFlags(azureKeys: readonly SettingKey[]): Record<string, FlagSpec> {
  return {
    target: { type: "string", valueName: "azure|local", description: "Where the job runs: the Azure ML endpoint, or this machine's local runner.", env: "HEART_TARGET", default: "azure" },
    "runs-dir": { type: "string", valueName: "folder", description: "Local target: where run folders are kept.", env: "HEART_RUNS_DIR", default: "<repo>/runs" },
    ...settingFlags(azureKeys),
  };
}

/**
 * The flags that start a job, shared by invoke, run (endpoint) and run-pipeline (pipeline); only the
 * endpoint has deployments, and a pipeline job has its own experiment and is named heart-<invocation id>.
 */
export function invokeFlags(kind: "endpoint" | "pipeline"): Record<string, FlagSpec> {
  const { modes, defaultMode } = scoreModes();
  return {
    input: { type: "string", short: "i", valueName: "folder|uri", description: "Local folder of CSV files, or an azureml://datastores/<ds>/paths/<path>/ or https:// folder URI." },
    "score-mode": { type: "string", valueName: "mode", description: `${modes.join(" or ")}: append keeps the input columns and adds prediction; prediction_only writes prediction alone.`, default: defaultMode },
    ...(kind === "endpoint" ? { deployment: { type: "string", valueName: "name", description: "Deployment to run (else the endpoint's default).", env: "HEART_DEPLOYMENT" } } : {}),
    experiment: { type: "string", valueName: "name", description: "Experiment name of the job.", ...(kind === "pipeline" ? { default: PIPELINE_EXPERIMENT } : {}) },
    "invocation-id": {
      type: "string",
      valueName: "id",
      description: `Reuse an earlier invocation's id (letters, digits, - and _): its job${kind === "pipeline" ? " (heart-<id>)" : ""} is picked up instead of starting a second one.`,
      env: "HEART_INVOCATION_ID",
    },
  };
}

export const WAIT_FLAGS: Record<string, FlagSpec> = {
  timeout: { type: "string", valueName: "duration", description: "Stop waiting after this long (90s, 15m, 2h); exit 3, the job keeps running.", env: "HEART_TIMEOUT" },
  "cancel-on-interrupt": { type: "boolean", description: "On Ctrl-C, cancel the job before exiting (else it keeps running)." },
};

export const PULL_FLAGS: Record<string, FlagSpec> = {
  force: { type: "boolean", description: "Overwrite files in the output folder that differ from the job's scores." },
};

/** --out's default: scores/ plus the job's name, known only once the job exists. */
export const OUT_DEFAULT = "scores/<job name>";

export function outFlag(): FlagSpec {
  return { type: "string", short: "o", valueName: "folder", description: "Folder to write the scores into (created if needed).", default: OUT_DEFAULT };
}

/** What run and run-pipeline add to the invoke flags: where the scores go, how to wait, how to pull. */
export const RUN_FLAGS: Record<string, FlagSpec> = {
  out: { ...outFlag(), description: "Folder to write the scores into: new or empty, unless --force." },
  ...WAIT_FLAGS,
  "keep-on-interrupt": { type: "boolean", description: "Local target: leave the run going on Ctrl-C (by default it is canceled)." },
  ...PULL_FLAGS,
};

export const COMMON_DETAILS = `${CONFIG_HELP}
Credentials: DefaultAzureCredential (az login, a service principal's AZURE_* variables, workload or managed identity).
Tuning: HEART_POLL_INTERVAL_MS (first poll interval, default 5000), HEART_POLL_MAX_INTERVAL_MS (cap, default 60000).`;

export function targetOf(values: FlagValues): Target {
  const t = String(values.target ?? "azure");
  if (t !== "azure" && t !== "local") throw new CliError(ExitCode.Usage, `--target must be azure or local (got '${t}')`);
  return t;
}

export function runsDirOf(values: FlagValues): string {
  const v = values["runs-dir"];
  return typeof v === "string" && v !== "<repo>/runs" ? path.resolve(v) : defaultRunsDir();
}

export function timeoutMsOf(spec: CommandSpec, values: FlagValues): number | undefined {
  const raw = stringFlag(spec, values, "timeout");
  return raw === undefined ? undefined : parseDurationSeconds("timeout", raw) * 1000;
}

export function scoreModes(pipeline: PipelineDefinition = loadPipeline()): { modes: readonly string[]; defaultMode: string } {
  const defaultMode = String(pipeline.spec.inputs.score_mode?.default ?? "append");
  return { modes: pipelineInputEnum(pipeline, "score_mode") ?? [defaultMode], defaultMode };
}

/**
 * The checks done before anything is uploaded or started: score mode, and for a local folder every CSV's
 * header (milliseconds). All problems are reported together (exit 2).
 */
export function checkInvokeInput(input: string | undefined, scoreMode: string, log: (l: string) => void, allowUri: boolean, invocationId?: string): void {
  const problems: string[] = [];
  // The id becomes a datastore path (scores/<id>/) and a job name (heart-<id>): nothing that could escape either.
  if (invocationId !== undefined) {
    const p = safeIdProblem(invocationId);
    if (p) problems.push(`--invocation-id (or HEART_INVOCATION_ID) '${invocationId}' is not valid: ${p}`);
  }
  const { modes } = scoreModes();
  if (!modes.includes(scoreMode)) problems.push(`--score-mode must be one of ${modes.join(", ")} (got '${scoreMode}')`);
  if (!input) problems.push("--input is required: a local folder of CSV files" + (allowUri ? " or an azureml:// / https:// folder URI" : ""));
  else if (isRemoteFolderUri(input)) {
    if (!allowUri) problems.push(`--input ${input}: the local target needs a local folder`);
  } else {
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
 * The --out folder, checked before anything is started or downloaded: it must not be a file (nor lie under
 * one), and with `requireEmpty` (run / run-pipeline, whose job costs money) an existing folder must be empty
 * unless --force: finding the conflict only after the job ran would waste it.
 */
export function checkOutFolder(out: string, o: { force?: boolean; requireEmpty?: boolean } = {}): void {
  const abs = path.resolve(out);
  for (let p = abs; ; p = path.dirname(p)) {
    const st = fs.statSync(p, { throwIfNoEntry: false });
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

export interface JobRef {
  readonly target: Target;
  readonly name: string;
  readonly azure?: AzureSession;
  readonly runsDir?: string;
}

/**
 * The job a command names (its one positional argument, as printed by invoke) on its target; for Azure, with a
 * session that also holds `optional` settings when they are available.
 */
export async function jobRefOf(
  spec: CommandSpec,
  values: FlagValues,
  positionals: readonly string[],
  optional: readonly SettingKey[],
  log: (line: string) => void,
): Promise<JobRef> {
  if (positionals.length !== 1) throw new CliError(ExitCode.Usage, "give exactly one job name (as printed by invoke)", `See '${spec.name} --help'.`);
  const target = targetOf(values);
  const name = positionals[0];
  return target === "azure" ? { target, name, azure: await openAzure(values, [], optional, log) } : { target, name, runsDir: runsDirOf(values) };
}

function pollFor(ref: JobRef): (signal?: AbortSignal) => Promise<JobStatusView> {
  return ref.target === "azure" ? (signal) => azureJobView(ref.azure!, ref.name, signal) : () => localJobView(ref.runsDir!, ref.name);
}

/** A duration for progress lines: 0.4s, 12s, 3m05s. */
export function secs(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

export interface WaitStepOptions {
  readonly timeoutMs?: number;
  readonly cancelOnInterrupt?: boolean;
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

/** The first poll interval and its cap: local runs are a file read away, Azure ML is polled gently. */
export function pollIntervals(target: Target, env: NodeJS.ProcessEnv = process.env): { intervalMs: number; maxIntervalMs: number } {
  const intervalMs = envMs(env, "HEART_POLL_INTERVAL_MS", target === "local" ? 500 : 5000);
  return { intervalMs, maxIntervalMs: Math.max(intervalMs, envMs(env, "HEART_POLL_MAX_INTERVAL_MS", target === "local" ? 2000 : 60_000)) };
}

/** Waits for the job; returns 0 when Completed, else throws the CliError with the documented exit code. */
export async function waitStep(ref: JobRef, o: WaitStepOptions): Promise<{ view: JobStatusView; calls: number; elapsedMs: number }> {
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
      const outcome = ref.target === "azure" ? await azureCancel(ref.azure!, ref.name) : await localCancel(ref.runsDir!, ref.name);
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

export async function pullStep(
  ref: JobRef,
  outDir: string,
  o: { force?: boolean; scoresUri?: string; signal: AbortSignal; log: (line: string) => void },
): Promise<PullResult> {
  checkOutFolder(outDir);
  const source = ref.target === "azure" ? await azureScoresSource(ref.azure!, ref.name, o.scoresUri, o.signal) : await localScoresSource(ref.runsDir!, ref.name);
  o.log(`pulling ${source.describe} into ${path.resolve(outDir)}`);
  const r = await pullFiles(source, outDir, { force: o.force, signal: o.signal, concurrency: Number(process.env.HEART_DOWNLOAD_CONCURRENCY) || 8 }).catch((e) => {
    if (e instanceof CliError) throw e;
    throw toCliError(e, "downloading the scores");
  });
  o.log(`${r.downloaded} file(s) downloaded, ${r.skipped} already there`);
  return r;
}
