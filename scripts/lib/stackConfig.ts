/**
 * Where the scripts' Azure settings come from, in this order for each key:
 *   1. a flag (e.g. --endpoint),
 *   2. an environment variable (e.g. HEART_ENDPOINT_NAME),
 *   3. the stack's outputs: a saved file (--stack-outputs FILE / HEART_STACK_OUTPUTS, the JSON that
 *      `pulumi stack output --json` prints), else `pulumi stack output --json` when the pulumi CLI is on PATH
 *      (--stack / HEART_PULUMI_STACK picks the stack; run from the project folder).
 * The stack is only asked when a flag or variable leaves something missing. What stays missing is reported all
 * at once, each key with the flag, variable and output it can come from (exit 2). SETTINGS is the one table of
 * those sources: the commands' flags are made from it (scripts/cli/flags.ts), and the message quotes it.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { CliError, ExitCode } from "./exitCodes";

export interface SettingSource {
  readonly flag: string;
  readonly env: string;
  /** The stack output name (fixed by the stack). */
  readonly output: string;
  readonly description: string;
}

/** Every setting a script may need. Output names are the stack's (infra outputs are fixed). */
export const SETTINGS = {
  subscriptionId: { flag: "subscription", env: "HEART_SUBSCRIPTION_ID", output: "subscriptionId", description: "Azure subscription id of the workspace." },
  resourceGroupName: { flag: "resource-group", env: "HEART_RESOURCE_GROUP", output: "resourceGroupName", description: "Resource group of the workspace." },
  workspaceName: { flag: "workspace", env: "HEART_WORKSPACE", output: "workspaceName", description: "Azure ML workspace name." },
  endpointName: { flag: "endpoint", env: "HEART_ENDPOINT_NAME", output: "endpointName", description: "Batch endpoint name." },
  datastoreName: { flag: "datastore", env: "HEART_DATASTORE", output: "datastoreName", description: "Datastore for uploads and scores (default: workspaceblobstore)." },
  pipelineComponentId: { flag: "pipeline-component", env: "HEART_PIPELINE_COMPONENT_ID", output: "pipelineComponentId", description: "ARM id of the registered pipeline component version." },
  computeName: { flag: "compute", env: "HEART_COMPUTE_NAME", output: "computeName", description: "Compute cluster name for run-pipeline." },
} as const satisfies Record<string, SettingSource>;

export type SettingKey = keyof typeof SETTINGS;
export type Settings = Partial<Record<SettingKey, string>>;

export interface StackOutputsReader {
  (opts: { file?: string; stack?: string; env: NodeJS.ProcessEnv; cwd?: string }): Promise<{ outputs: Record<string, unknown>; from: string } | undefined>;
}

function onPath(cmd: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Reads the stack outputs from the file, else from the pulumi CLI; undefined when neither is available. */
export const readStackOutputs: StackOutputsReader = async ({ file, stack, env, cwd }) => {
  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (e) {
      throw new CliError(ExitCode.Usage, `stack outputs file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    try {
      return { outputs: JSON.parse(text) as Record<string, unknown>, from: file };
    } catch (e) {
      throw new CliError(ExitCode.Usage, `stack outputs file ${file} is not JSON (${(e as Error).message}); write it with \`pulumi stack output --json > ${file}\``);
    }
  }
  const pulumi = onPath("pulumi", env);
  if (!pulumi) return undefined;
  const args = ["stack", "output", "--json", ...(stack ? ["--stack", stack] : [])];
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(pulumi, args, { env, cwd, maxBuffer: 16 * 1024 * 1024, timeout: 120_000 }, (err, out, errOut) =>
      err ? reject(new CliError(ExitCode.Usage, `\`pulumi ${args.join(" ")}\` failed: ${String(errOut || err.message).trim().split("\n").slice(-3).join(" ")}`)) : resolve(out),
    ),
  );
  try {
    return { outputs: JSON.parse(stdout) as Record<string, unknown>, from: `pulumi stack output${stack ? ` --stack ${stack}` : ""}` };
  } catch {
    throw new CliError(ExitCode.Usage, "`pulumi stack output --json` did not print JSON");
  }
};

/**
 * Where a command's workspace settings come from, parsed at the command's edge (scripts/cli): the settings
 * given by flag or environment variable, and where to read the stack outputs for the rest.
 */
export interface WorkspaceOptions {
  readonly given: Settings;
  /** A saved `pulumi stack output --json`. */
  readonly stackOutputsFile?: string;
  /** The stack `pulumi stack output` reads when the pulumi CLI is on PATH. */
  readonly stack?: string;
}

export interface ResolveOptions {
  readonly workspace: WorkspaceOptions;
  /** The environment the pulumi CLI runs with. */
  readonly env?: NodeJS.ProcessEnv;
  readonly reader?: StackOutputsReader;
  readonly cwd?: string;
}

/** Settings resolved for a command: the required ones, the optional ones found, and the stack outputs if read. */
export type ResolvedSettings<R extends SettingKey, O extends SettingKey = never> = Record<R, string> & Partial<Record<O, string>> & { outputs?: Record<string, unknown> };

/**
 * Resolves `required` (all must be found) and `optional` keys: the given settings first, then the stack
 * outputs, read only when something is still missing. What stays missing is reported all at once, each key
 * with its flag, variable and stack output (exit 2).
 */
export async function resolveSettings<R extends SettingKey, O extends SettingKey = never>(
  required: readonly R[],
  optional: readonly O[] = [],
  opts: ResolveOptions,
): Promise<ResolvedSettings<R, O>> {
  const env = opts.env ?? process.env;
  const result: Record<string, string> = {};
  const keys = [...required, ...optional] as SettingKey[];
  for (const k of keys) {
    const v = opts.workspace.given[k]?.trim();
    if (v) result[k] = v;
  }
  let stack: { outputs: Record<string, unknown>; from: string } | undefined;
  let stackTried = false;
  if (keys.some((k) => result[k] === undefined)) {
    stack = await (opts.reader ?? readStackOutputs)({ file: opts.workspace.stackOutputsFile, stack: opts.workspace.stack, env, cwd: opts.cwd });
    stackTried = true;
    for (const k of keys) {
      const v = stack?.outputs[SETTINGS[k].output];
      if (result[k] === undefined && typeof v === "string" && v.trim()) result[k] = v.trim();
    }
  }
  const missing = (required as readonly SettingKey[]).filter((k) => result[k] === undefined);
  if (missing.length > 0) {
    const lines = missing.map((k) => `${k}: --${SETTINGS[k].flag}, env ${SETTINGS[k].env}, or stack output ${SETTINGS[k].output}`);
    const where = stack
      ? `the stack outputs (${stack.from}) do not have them either`
      : stackTried
        ? "no stack outputs were available (give --stack-outputs FILE or HEART_STACK_OUTPUTS, or install the pulumi CLI)"
        : "";
    throw new CliError(ExitCode.Usage, `missing configuration:\n  ${lines.join("\n  ")}${where ? `\n  (${where})` : ""}`);
  }
  return Object.assign(result, stack ? { outputs: stack.outputs } : {}) as never;
}

/** The settings every Azure command needs: which workspace. */
export const WORKSPACE_KEYS = ["subscriptionId", "resourceGroupName", "workspaceName"] as const satisfies readonly SettingKey[];
