/**
 * What the CLIs share: the --target switch, flag sets, the up-front input checks, and the invoke / wait /
 * pull steps for both targets, so `run` and `run-pipeline` are just these steps in a row. Progress goes to
 * stderr; results (job names, folders, JSON) to stdout.
 */
import * as path from "path";
import { loadPipeline } from "../../../lib/componentYaml";
import { CommandSpec, FlagSpec, FlagValues, parseDurationSeconds, stringFlag } from "../cli";
import { CliError, ExitCode } from "../exitCodes";
import { toCliError } from "../azure/credential";
import { envMs } from "../azure/retry";
import { checkInputFolder, InputFolderError } from "../local/inputFolder";
import { pipelineInputEnum } from "../local/plan";
import { defaultRunsDir } from "../local/runner";
import { pullFiles, PullResult } from "../pull/pullFiles";
import { CONFIG_HELP, settingFlags, SettingKey } from "../stackConfig";
import { AzureSession, azureCancel, azureJobView, azureScoresSource, isRemoteFolderUri } from "./azure";
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

export const WAIT_FLAGS: Record<string, FlagSpec> = {
  timeout: { type: "string", valueName: "duration", description: "Stop waiting after this long (90s, 15m, 2h); exit 3, the job keeps running.", env: "HEART_TIMEOUT" },
  "cancel-on-interrupt": { type: "boolean", description: "On Ctrl-C, cancel the job before exiting (else it keeps running)." },
};

export const PULL_FLAGS: Record<string, FlagSpec> = {
  force: { type: "boolean", description: "Overwrite files in the output folder that differ from the job's scores." },
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

export function scoreModes(): { modes: readonly string[]; defaultMode: string } {
  const pipeline = loadPipeline();
  const defaultMode = String(pipeline.spec.inputs.score_mode?.default ?? "append");
  return { modes: pipelineInputEnum(pipeline, "score_mode") ?? [defaultMode], defaultMode };
}

/**
 * The checks done before anything is uploaded or started: score mode, and for a local folder every CSV's
 * header (milliseconds). All problems are reported together (exit 2).
 */
export function checkInvokeInput(input: string | undefined, scoreMode: string, log: (l: string) => void, allowUri: boolean): void {
  const problems: string[] = [];
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

export interface JobRef {
  readonly target: Target;
  readonly name: string;
  readonly azure?: AzureSession;
  readonly runsDir?: string;
}

function pollFor(ref: JobRef): (signal?: AbortSignal) => Promise<JobStatusView> {
  return ref.target === "azure" ? (signal) => azureJobView(ref.azure!, ref.name, signal) : () => localJobView(ref.runsDir!, ref.name);
}

function secs(ms: number): string {
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

/** Waits for the job; returns 0 when Completed, else throws the CliError with the documented exit code. */
export async function waitStep(ref: JobRef, o: WaitStepOptions): Promise<{ view: JobStatusView; calls: number; elapsedMs: number }> {
  const env = o.env ?? process.env;
  const first = envMs(env, "HEART_POLL_INTERVAL_MS", ref.target === "local" ? 500 : 5000);
  try {
    const r = await waitForFinal({
      poll: pollFor(ref),
      timeoutMs: o.timeoutMs,
      intervalMs: first,
      maxIntervalMs: Math.max(first, envMs(env, "HEART_POLL_MAX_INTERVAL_MS", ref.target === "local" ? 2000 : 60_000)),
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

export async function pullStep(
  ref: JobRef,
  outDir: string,
  o: { force?: boolean; scoresUri?: string; signal: AbortSignal; log: (line: string) => void },
): Promise<PullResult> {
  const source = ref.target === "azure" ? await azureScoresSource(ref.azure!, ref.name, o.scoresUri, o.signal) : await localScoresSource(ref.runsDir!, ref.name);
  o.log(`pulling ${source.describe} into ${path.resolve(outDir)}`);
  const r = await pullFiles(source, outDir, { force: o.force, signal: o.signal, concurrency: Number(process.env.HEART_DOWNLOAD_CONCURRENCY) || 8 }).catch((e) => {
    if (e instanceof CliError) throw e;
    throw toCliError(e, "downloading the scores");
  });
  o.log(`${r.downloaded} file(s) downloaded, ${r.skipped} already there`);
  return r;
}
