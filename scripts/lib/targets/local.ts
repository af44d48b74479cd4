/**
 * The local target: the same invoke / wait / pull / cancel on this machine's runner (scripts/lib/local). An
 * invoke starts a detached worker process that runs the pipeline and keeps <runs-dir>/<run id>/run.json up to
 * date; wait reads that file; pull copies the run's scores folder with the same safe-copy rules as Azure.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { CliError, ExitCode } from "../exitCodes";
import { sleep } from "../azure/retry";
import { localFolderSource } from "../pull/sources";
import type { PullSource } from "../pull/pullFiles";
import { isFinalStatus, listLocalRuns, LocalRunNotFoundError, readLocalRun, runFile } from "../local/runner";
import { newRunId } from "../local/runId";
import type { JobStatusView } from "./waitLoop";

/** What the detached worker (localWorker.ts) is told to run, as JSON in its one argument. */
export interface LocalWorkerSpec {
  readonly input: string;
  readonly scoreMode: string;
  readonly runsDir: string;
  readonly runId: string;
  readonly workers?: number;
}

const WORKER = path.join(__dirname, "localWorker.ts");
/** Starts a TypeScript file from its cached transpilation (scripts/cli/launch.js): no TypeScript compiler to load. */
const LAUNCHER = path.resolve(__dirname, "../../cli/launch.js");

export interface LocalInvokeArgs {
  readonly input: string;
  readonly scoreMode: string;
  readonly runsDir: string;
  readonly runId?: string;
  /** Worker processes of each parallel step (the local runner's `workers`); undefined: its default. */
  readonly workers?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
}

/** Starts a run in a detached worker and resolves once its run.json exists (or the worker refused the run). */
export async function localInvoke(a: LocalInvokeArgs): Promise<{ runId: string }> {
  const runId = a.runId ?? newRunId();
  const runsDir = path.resolve(a.runsDir);
  const spec: LocalWorkerSpec = { input: path.resolve(a.input), scoreMode: a.scoreMode, runsDir, runId, ...(a.workers !== undefined ? { workers: a.workers } : {}) };
  const child = spawn(process.execPath, [LAUNCHER, WORKER, JSON.stringify(spec)], {
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
    env: a.env ?? process.env,
    cwd: path.resolve(__dirname, "../../.."),
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const file = runFile(runsDir, runId);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((c) => (exitCode = c));
  for (;;) {
    if (fs.existsSync(file)) break;
    if (exitCode !== undefined) {
      await sleep(20); // let the worker's last stderr arrive
      const msg = stderr.trim() || `the local worker exited with code ${exitCode}`;
      throw new CliError(exitCode === ExitCode.Usage ? ExitCode.Usage : ExitCode.Internal, msg);
    }
    if (a.signal?.aborted) {
      process.kill(child.pid!, "SIGTERM");
      throw new CliError(ExitCode.Interrupted, "interrupted before the local run started");
    }
    await sleep(50);
  }
  child.stderr!.destroy();
  child.unref();
  return { runId };
}

function read(runsDir: string, runId: string) {
  try {
    return readLocalRun(runsDir, runId);
  } catch (e) {
    if (e instanceof LocalRunNotFoundError) throw new CliError(ExitCode.Usage, `${e.message}; check the run id and --runs-dir`);
    throw e;
  }
}

export async function localJobView(runsDir: string, runId: string): Promise<JobStatusView> {
  const r = read(runsDir, runId);
  return { status: r.status, final: isFinalStatus(r.status), error: r.error ? { message: r.error.message, step: r.error.step } : undefined };
}

export async function localCancel(runsDir: string, runId: string): Promise<"requested" | "already-final"> {
  const r = read(runsDir, runId);
  if (isFinalStatus(r.status)) return "already-final";
  try {
    process.kill(r.runner.pid, "SIGTERM");
  } catch {
    return "already-final";
  }
  return "requested";
}

export async function localScoresSource(runsDir: string, runId: string): Promise<PullSource> {
  const r = read(runsDir, runId);
  if (r.status !== "Completed") throw new CliError(ExitCode.JobFailed, `local run ${runId} is ${r.status}, not Completed: there are no scores to pull`);
  const scores = r.outputs.scores;
  if (!scores) throw new CliError(ExitCode.Internal, `local run ${runId} has no scores output`);
  return localFolderSource(scores);
}

/** Local runs that are not final (for `jobs --target local`). */
export function localRunningJobs(runsDir: string): string[] {
  return listLocalRuns(runsDir).filter((id) => {
    try {
      return !isFinalStatus(readLocalRun(runsDir, id).status);
    } catch {
      return false;
    }
  });
}
