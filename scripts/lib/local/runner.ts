/**
 * The local runner: runs the pipeline component of components/pipeline.yml on this machine, step by step in
 * dependency order, exactly as its YAML says (each step's `command` in its `code` folder through
 * /bin/bash -c), with the registered models bound to the folders under models/. Each run has an id and a
 * folder <runsDir>/<runId>/ holding run.json (Azure ML-style status), per-step logs and the outputs.
 *
 * Library only: progress goes to the caller's onEvent callback, nothing is printed; callers pick exit codes.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { COMPONENTS_DIR, DEFAULT_PIPELINE_FILE, Literal, loadPipeline, PipelineDefinition } from "../../../lib/componentYaml";
import { LocalRunInputError, LocalRunPlan, planLocalRun } from "./plan";
import { resolvePython } from "./python";
import { newRunId, runIdProblem } from "./runId";
import { LocalRunError, LocalRunRecord, LocalStepRecord, RUN_FILE, writeRunRecord } from "./runRecord";
import { runStepProcess, StepProcessResult } from "./stepProcess";

export { LocalRunInputError } from "./plan";
export { readLocalRun, listLocalRuns, LocalRunNotFoundError, isFinalStatus, FINAL_STATUSES } from "./runRecord";
export type { LocalRunRecord, LocalStepRecord, LocalRunError, LocalRunStatus } from "./runRecord";
export { resolvePython } from "./python";

export const REPO_ROOT = path.dirname(COMPONENTS_DIR);
export const DEFAULT_MODELS_DIR = path.join(REPO_ROOT, "models");

/** Where runs go: HEART_RUNS_DIR, else <repo>/runs. */
export function defaultRunsDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.HEART_RUNS_DIR?.trim();
  return fromEnv ? path.resolve(fromEnv) : path.join(REPO_ROOT, "runs");
}

export type LocalRunEvent =
  | { readonly type: "run-started"; readonly runId: string; readonly runDir: string }
  | { readonly type: "step-started"; readonly runId: string; readonly step: string; readonly command: string }
  | { readonly type: "step-output"; readonly runId: string; readonly step: string; readonly stream: "stdout" | "stderr"; readonly line: string }
  | {
      readonly type: "step-finished";
      readonly runId: string;
      readonly step: string;
      readonly status: "Completed" | "Failed" | "Canceled";
      readonly exitCode: number | null;
      readonly durationMs: number;
    }
  | { readonly type: "run-finished"; readonly runId: string; readonly status: "Completed" | "Failed" | "Canceled"; readonly durationMs: number };

export interface LocalRunOptions {
  /** Pipeline inputs, e.g. { input_data: "data/unlabeled", score_mode: "append" }; defaults from the YAML. */
  readonly inputs: Readonly<Record<string, Literal | undefined>>;
  /** @default components/pipeline.yml */
  readonly pipelineFile?: string;
  /** Already-loaded pipeline (wins over pipelineFile). */
  readonly pipeline?: PipelineDefinition;
  /** @default <repo>/models */
  readonly modelsDir?: string;
  /** @default defaultRunsDir() (HEART_RUNS_DIR or <repo>/runs) */
  readonly runsDir?: string;
  /** @default newRunId() */
  readonly runId?: string;
  /** Explicit folder for a pipeline output, e.g. { scores: "out/" } (must be absent or empty). */
  readonly outputs?: Readonly<Record<string, string | undefined>>;
  /** @default resolvePython(env) */
  readonly python?: string;
  /** Environment of the step processes. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Aborting kills the running step's process group and ends the run Canceled. */
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: LocalRunEvent) => void;
  /** Record each step's peak RSS and CPU time (needs GNU time at /usr/bin/time; absent otherwise). @default false */
  readonly measureResources?: boolean;
  /** @default 3000 */
  readonly killGraceMs?: number;
  /** Relative input and output paths resolve against this. @default process.cwd() */
  readonly cwd?: string;
  /**
   * Worker processes of each parallel step (Azure ML's nodes × max_concurrency_per_instance, here on one
   * machine). The scores are byte-identical whatever it is. @default os.cpus().length
   */
  readonly workers?: number;
}

/**
 * The stderr lines that explain a failure: from the last "error:" line on (the steps print
 * "<script>: error: <file>: …"), else the last few non-blank lines (e.g. a traceback's end).
 */
export function failureMessage(stderrTail: readonly string[], max = 5): string {
  const lines = stderrTail.map((l) => l.trimEnd()).filter((l) => l.trim() !== "");
  let from = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/\berror:/i.test(lines[i])) {
      from = i;
      break;
    }
  }
  const picked = from >= 0 ? lines.slice(from, from + max) : lines.slice(-max);
  const text = picked.join("\n");
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}

function stepError(step: string, r: StepProcessResult): LocalRunError {
  if (r.spawnError) return { kind: "step", step, exitCode: null, message: r.spawnError };
  const detail = failureMessage(r.stderrTail);
  const how = r.signal ? `was killed by ${r.signal}` : `exited with code ${r.exitCode}`;
  return {
    kind: r.exitCode === 2 ? "input" : "step",
    step,
    exitCode: r.exitCode,
    message: detail || `step ${step} ${how} and wrote nothing to stderr`,
  };
}

function checkInterpreter(python: string): string | undefined {
  const found = path.isAbsolute(python) ? fs.existsSync(python) : true; // a bare name is left to PATH
  return found
    ? undefined
    : `Python interpreter ${python} does not exist: install python3 with pandas, scikit-learn and xgboost (bash scripts/ensure-python.sh) or set HEART_PYTHON`;
}

/**
 * Validates everything (inputs, enums, model folders, run id, interpreter), then creates the run folder and
 * runs the steps. Throws LocalRunInputError before creating anything when the run cannot start; otherwise
 * resolves with the final record (status Completed, Failed or Canceled), which is also in run.json.
 */
export async function runLocalPipeline(options: LocalRunOptions): Promise<LocalRunRecord> {
  const env = options.env ?? process.env;
  const python = options.python ?? resolvePython(env);
  const runsDir = path.resolve(options.runsDir ?? defaultRunsDir(env));
  const runId = options.runId ?? newRunId();
  const pipeline = options.pipeline ?? loadPipeline(options.pipelineFile ?? DEFAULT_PIPELINE_FILE);
  const runDir = path.join(runsDir, runId);

  const early: string[] = [];
  const idProblem = runIdProblem(runId);
  if (idProblem) early.push(idProblem);
  else if (fs.existsSync(runDir)) early.push(`run id '${runId}' is already used (${runDir} exists)`);
  const pyProblem = checkInterpreter(python);
  if (pyProblem) early.push(pyProblem);
  let plan: LocalRunPlan | undefined;
  try {
    plan = planLocalRun(pipeline, {
      inputs: options.inputs,
      runDir,
      modelsDir: options.modelsDir ?? DEFAULT_MODELS_DIR,
      python,
      outputs: options.outputs,
      cwd: options.cwd,
      workers: options.workers,
    });
  } catch (e) {
    if (!(e instanceof LocalRunInputError)) throw e;
    early.push(...e.problems);
  }
  if (early.length > 0 || !plan) throw new LocalRunInputError(early);

  fs.mkdirSync(runsDir, { recursive: true });
  try {
    fs.mkdirSync(runDir); // not recursive: a concurrent run with the same id fails here
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new LocalRunInputError([`run id '${runId}' is already used (${runDir} exists)`]);
    throw e;
  }
  return execute(plan, { runId, runDir, env, options });
}

/** Marks the run Failed (kind "runner") when the runner itself breaks mid-run, then rethrows. */
async function failRun(record: LocalRunRecord, e: unknown): Promise<never> {
  record.status = "Failed";
  record.error = { kind: "runner", message: `the local runner failed: ${(e as Error)?.message ?? String(e)}` };
  record.endedAt = new Date().toISOString();
  await writeRunRecord(record).catch(() => undefined);
  throw e;
}

async function execute(
  plan: LocalRunPlan,
  ctx: { runId: string; runDir: string; env: NodeJS.ProcessEnv; options: LocalRunOptions },
): Promise<LocalRunRecord> {
  const { runId, runDir, options } = ctx;
  const emit = (e: LocalRunEvent) => {
    try {
      options.onEvent?.(e);
    } catch {
      // a broken progress callback must not break the run
    }
  };
  const steps: LocalStepRecord[] = plan.steps.map((s) => {
    const stepDir = path.join(runDir, "steps", s.name);
    return {
      name: s.name,
      component: s.component,
      status: "NotStarted",
      command: s.command,
      cwd: s.codeDir,
      startedAt: undefined,
      endedAt: undefined,
      durationMs: undefined,
      exitCode: undefined,
      signal: undefined,
      stdoutLog: path.join(stepDir, "stdout.log"),
      stderrLog: path.join(stepDir, "stderr.log"),
      ...(s.parallel ? { workers: s.parallel.workers, workerLogs: s.parallel.logDir } : {}),
      outputs: s.outputs,
    };
  });
  const record: LocalRunRecord = {
    schemaVersion: 1,
    runId,
    pipeline: plan.pipeline.spec.name,
    pipelineFile: plan.pipeline.file,
    runDir,
    status: "NotStarted",
    inputs: plan.inputs,
    outputs: plan.outputs,
    createdAt: new Date().toISOString(),
    // Declared here (undefined is left out of the JSON) so the file reads in a stable order once they are set.
    startedAt: undefined,
    endedAt: undefined,
    durationMs: undefined,
    error: undefined,
    steps,
    runner: { pid: process.pid, host: os.hostname() },
  };
  await writeRunRecord(record);
  try {
    return await executeSteps(plan, record, ctx, emit);
  } catch (e) {
    return failRun(record, e);
  }
}

async function executeSteps(
  plan: LocalRunPlan,
  record: LocalRunRecord,
  ctx: { runId: string; runDir: string; env: NodeJS.ProcessEnv; options: LocalRunOptions },
  emit: (e: LocalRunEvent) => void,
): Promise<LocalRunRecord> {
  const { runId, runDir, options } = ctx;
  const steps = record.steps;
  // Like Azure ML, every output folder exists (empty) before the steps run.
  for (const s of plan.steps) {
    fs.mkdirSync(path.join(runDir, "steps", s.name), { recursive: true });
    for (const folder of Object.values(s.outputs)) fs.mkdirSync(folder, { recursive: true });
  }

  const started = Date.now();
  record.status = "Running";
  record.startedAt = new Date(started).toISOString();
  await writeRunRecord(record);
  emit({ type: "run-started", runId, runDir });

  const stepEnv: NodeJS.ProcessEnv = { ...ctx.env, PYTHONUNBUFFERED: "1", HEART_LOCAL_RUN_ID: runId };
  for (let i = 0; i < plan.steps.length; i++) {
    const planned = plan.steps[i];
    const step = steps[i];
    if (options.signal?.aborted) {
      record.status = "Canceled";
      break;
    }
    step.status = "Running";
    step.startedAt = new Date().toISOString();
    await writeRunRecord(record);
    emit({ type: "step-started", runId, step: step.name, command: step.command });

    const result = await runStepProcess({
      command: planned.command,
      cwd: planned.codeDir,
      env: stepEnv,
      stdoutLog: step.stdoutLog,
      stderrLog: step.stderrLog,
      signal: options.signal,
      killGraceMs: options.killGraceMs ?? 3000,
      resourceFile: options.measureResources ? path.join(runDir, "steps", step.name, "resources.txt") : undefined,
      onLine: (stream, line) => emit({ type: "step-output", runId, step: step.name, stream, line }),
    });

    step.exitCode = result.exitCode;
    step.signal = result.signal;
    step.endedAt = new Date().toISOString();
    step.durationMs = result.durationMs;
    if (result.peakRssKiB !== undefined) step.peakRssKiB = result.peakRssKiB;
    if (result.cpuMs !== undefined) step.cpuMs = result.cpuMs;
    if (result.canceled) {
      step.status = "Canceled";
      record.status = "Canceled";
    } else if (result.exitCode === 0 && !result.spawnError) {
      step.status = "Completed";
    } else {
      step.status = "Failed";
      record.status = "Failed";
      record.error = stepError(step.name, result);
    }
    // A parallel step's mini-batches each write their own files: when the step does not complete, the files
    // of the mini-batches that did are removed, so nothing of a failed step is left (as a command step does).
    if (planned.parallel && step.status !== "Completed") for (const folder of Object.values(planned.outputs)) emptyFolder(folder);
    emit({ type: "step-finished", runId, step: step.name, status: step.status, exitCode: result.exitCode, durationMs: result.durationMs });
    if (step.status !== "Completed") break; // continue_on_step_failure: false
  }
  if (record.status === "Running") record.status = "Completed";
  const ended = Date.now();
  record.endedAt = new Date(ended).toISOString();
  record.durationMs = ended - started;
  await writeRunRecord(record);
  emit({ type: "run-finished", runId, status: record.status as "Completed" | "Failed" | "Canceled", durationMs: record.durationMs });
  return record;
}

function emptyFolder(folder: string): void {
  for (const entry of fs.readdirSync(folder, { withFileTypes: true })) fs.rmSync(path.join(folder, entry.name), { recursive: true, force: true });
}

/** The run.json path of a run (for callers that watch it). */
export function runFile(runsDir: string, runId: string): string {
  return path.join(path.resolve(runsDir), runId, RUN_FILE);
}
