/**
 * The commands' shared flags, and the one place they are read: each CLI parses its command line once, here,
 * into the typed options of scripts/lib/targets/commands.ts (target, input, score mode, out, timeouts,
 * workspace settings with their environment and stack-output fallbacks). Below the CLIs nothing knows a
 * flag's name.
 */
import { CommandSpec, FlagSpec, FlagValues, parseDurationSeconds, stringFlag } from "../lib/cli";
import { CliError, ExitCode } from "../lib/exitCodes";
import { parseWorkers } from "../lib/local/plan";
import { InvokeOptions, PIPELINE_EXPERIMENT, RunOptions, RUNS_DIR_DEFAULT, runsDirFrom, scoreModes, TargetOptions, WaitChoice } from "../lib/targets/commands";
import { SETTINGS, SettingKey, Settings, WorkspaceOptions } from "../lib/stackConfig";

/** util.parseArgs rejects `multiple: undefined`, which scripts/lib/cli.ts passes for flags that leave it out. */
export function defineCommand(spec: CommandSpec): CommandSpec {
  for (const f of Object.values(spec.flags)) (f as { multiple?: boolean }).multiple ??= false;
  return spec;
}

export const CONFIG_HELP = `Configuration: each value comes from its flag, else its environment variable, else the stack outputs
(--stack-outputs FILE, else \`pulumi stack output --json\` when pulumi is on PATH).`;

export const COMMON_DETAILS = `${CONFIG_HELP}
Credentials: in GitHub Actions with OIDC (ARM_USE_OIDC, ARM_CLIENT_ID, ARM_TENANT_ID), a fresh GitHub ID token per sign-in;
else DefaultAzureCredential (az login, a service principal's AZURE_* variables, workload or managed identity).
Cloud: HEART_AZURE_CLOUD (AzureCloud, AzureUSGovernment, AzureChinaCloud; default AzureCloud or HEART_ARM_ENDPOINT's).
Tuning: HEART_POLL_INTERVAL_MS (first poll interval, default 5000), HEART_POLL_MAX_INTERVAL_MS (cap, default 60000).`;

/** The workspace settings a command reads (from SETTINGS), and where the stack outputs come from. */
export function settingFlags(keys: readonly SettingKey[]): Record<string, FlagSpec> {
  const flags: Record<string, FlagSpec> = {};
  for (const k of keys) {
    const s = SETTINGS[k];
    flags[s.flag] = { type: "string", valueName: "value", description: `${s.description} Else stack output ${s.output}.`, env: s.env };
  }
  flags["stack-outputs"] = { type: "string", valueName: "file", description: "JSON file of the stack outputs (`pulumi stack output --json > FILE`).", env: "HEART_STACK_OUTPUTS" };
  flags["stack"] = { type: "string", valueName: "name", description: "Pulumi stack whose outputs to read when the pulumi CLI is on PATH.", env: "HEART_PULUMI_STACK" };
  return flags;
}

export function targetFlags(azureKeys: readonly SettingKey[], o: { workers?: boolean } = {}): Record<string, FlagSpec> {
  return {
    target: { type: "string", valueName: "azure|local", description: "Where the job runs: the Azure ML endpoint, or this machine's local runner.", env: "HEART_TARGET", default: "azure" },
    "runs-dir": { type: "string", valueName: "folder", description: "Local target: where run folders are kept.", env: "HEART_RUNS_DIR", default: RUNS_DIR_DEFAULT },
    ...(o.workers
      ? { workers: { type: "string", valueName: "n", description: "Local target: worker processes of each parallel step, 1-256 (default: the CPUs); the scores are the same whatever it is.", env: "HEART_WORKERS" } as FlagSpec }
      : {}),
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

// ---------------------------------------------------------------------------------------------- parsing

/** The workspace settings given by flag, else by their environment variable (also for keys the command has no flag for). */
export function workspaceOptionsOf(values: FlagValues, env: NodeJS.ProcessEnv = process.env): WorkspaceOptions {
  const given: Settings = {};
  for (const [k, s] of Object.entries(SETTINGS) as Array<[SettingKey, (typeof SETTINGS)[SettingKey]]>) {
    const v = values[s.flag] ?? env[s.env];
    if (typeof v === "string" && v.trim()) given[k] = v.trim();
  }
  const text = (name: string, envName: string) => {
    const v = values[name] ?? env[envName];
    return typeof v === "string" && v !== "" ? v : undefined;
  };
  return { given, stackOutputsFile: text("stack-outputs", "HEART_STACK_OUTPUTS"), stack: text("stack", "HEART_PULUMI_STACK") };
}

/** --workers: a whole number of worker processes within the local runner's bounds (its own parser and message). */
export function parseWorkersFlag(raw: string): number {
  const r = parseWorkers("--workers", raw);
  if (r.problem !== undefined || r.workers === undefined) throw new CliError(ExitCode.Usage, r.problem ?? `--workers: '${raw}'`);
  return r.workers;
}

/** --target and what it needs: the runs folder and workers (local), the workspace settings (Azure). */
export function targetOptionsOf(spec: CommandSpec, values: FlagValues, env: NodeJS.ProcessEnv = process.env): TargetOptions {
  const t = String(values.target ?? "azure");
  if (t !== "azure" && t !== "local") throw new CliError(ExitCode.Usage, `--target must be azure or local (got '${t}')`);
  if (t === "azure") return { target: "azure", workspace: workspaceOptionsOf(values, env) };
  const workers = spec.flags.workers ? stringFlag(spec, values, "workers") : undefined;
  return { target: "local", runsDir: runsDirFrom(stringFlag(spec, values, "runs-dir")), ...(workers !== undefined ? { workers: parseWorkersFlag(workers) } : {}) };
}

export function invokeOptionsOf(spec: CommandSpec, values: FlagValues): InvokeOptions {
  return {
    input: stringFlag(spec, values, "input"),
    scoreMode: stringFlag(spec, values, "score-mode") ?? scoreModes().defaultMode,
    deployment: spec.flags.deployment ? stringFlag(spec, values, "deployment") : undefined,
    experiment: stringFlag(spec, values, "experiment"),
    invocationId: stringFlag(spec, values, "invocation-id"),
  };
}

export function timeoutMsOf(spec: CommandSpec, values: FlagValues): number | undefined {
  const raw = stringFlag(spec, values, "timeout");
  return raw === undefined ? undefined : parseDurationSeconds("timeout", raw) * 1000;
}

export function waitChoiceOf(spec: CommandSpec, values: FlagValues, target: TargetOptions["target"]): WaitChoice {
  // A local run belongs to this terminal: Ctrl-C stops it unless asked otherwise.
  const cancelOnInterrupt = values["cancel-on-interrupt"] === true || (target === "local" && spec.flags["keep-on-interrupt"] !== undefined && values["keep-on-interrupt"] !== true);
  return { timeoutMs: timeoutMsOf(spec, values), cancelOnInterrupt };
}

/** --out: undefined for the default (scores/<job name>). */
export function outOf(spec: CommandSpec, values: FlagValues): string | undefined {
  const out = stringFlag(spec, values, "out");
  return out === undefined || out === OUT_DEFAULT ? undefined : out;
}

export function runOptionsOf(kind: RunOptions["kind"], spec: CommandSpec, values: FlagValues, env: NodeJS.ProcessEnv = process.env): RunOptions {
  const target = targetOptionsOf(spec, values, env);
  return { kind, target, invoke: invokeOptionsOf(spec, values), wait: waitChoiceOf(spec, values, target.target), out: outOf(spec, values), force: values.force === true };
}

/** The one job name a command takes (as printed by invoke). */
export function jobNameOf(spec: CommandSpec, positionals: readonly string[]): string {
  if (positionals.length !== 1) throw new CliError(ExitCode.Usage, "give exactly one job name (as printed by invoke)", `See '${spec.name} --help'.`);
  return positionals[0];
}
