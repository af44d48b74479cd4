/**
 * run.json: the status file of one local run, shaped after an Azure ML job (same status names) so that
 * `wait`/`pull --target local` read it the way they read a job. Written atomically (temp file + rename) so a
 * reader polling it never sees a torn file.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runIdProblem } from "./runId";

/** Azure ML job status names. NotResponding is never written: readLocalRun reports it for a runner that died. */
export type LocalRunStatus = "NotStarted" | "Running" | "Completed" | "Failed" | "Canceled" | "NotResponding";
export const FINAL_STATUSES: readonly LocalRunStatus[] = ["Completed", "Failed", "Canceled", "NotResponding"];

export function isFinalStatus(status: LocalRunStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

export const RUN_FILE = "run.json";

export interface LocalStepRecord {
  readonly name: string;
  /** The component's name (e.g. "prepare"). */
  readonly component: string;
  status: LocalRunStatus;
  /** The command as run through /bin/bash -c, placeholders replaced. */
  readonly command: string;
  /** Working directory: the component's code folder. */
  readonly cwd: string;
  /** Absolute paths of the step's logs. */
  readonly stdoutLog: string;
  readonly stderrLog: string;
  /** A parallel step's worker processes, and the folder of their logs (worker-<i>.log). */
  readonly workers?: number;
  readonly workerLogs?: string;
  /** Step output name → absolute folder. */
  readonly outputs: Record<string, string>;
  exitCode?: number | null;
  /** The signal that ended the process, if one did. */
  signal?: string | null;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  /** Peak resident memory of the step's processes in KiB (only when the run measured it). */
  peakRssKiB?: number;
  /** User + system CPU time of the step's processes in ms (only when the run measured it). */
  cpuMs?: number;
}

/**
 * Why a run failed. kind "input": a step refused its input (exit code 2, "<script>: error: <file>: …");
 * "step": any other step failure; "runner": the runner itself could not go on (or died, see NotResponding).
 */
export interface LocalRunError {
  readonly kind: "input" | "step" | "runner";
  readonly step?: string;
  readonly exitCode?: number | null;
  readonly message: string;
}

export interface LocalRunRecord {
  readonly schemaVersion: 1;
  readonly runId: string;
  /** The pipeline component's name. */
  readonly pipeline: string;
  readonly pipelineFile: string;
  readonly runDir: string;
  status: LocalRunStatus;
  /** Pipeline inputs as resolved (folders absolute, literals as strings). */
  readonly inputs: Record<string, string>;
  /** Pipeline output name → absolute folder (final once status is Completed). */
  readonly outputs: Record<string, string>;
  readonly createdAt: string;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  /** In dependency order. */
  readonly steps: LocalStepRecord[];
  error?: LocalRunError;
  /** The process that runs (ran) the pipeline; readLocalRun uses it to spot a runner that died. */
  readonly runner: { readonly pid: number; readonly host: string };
}

let tempCounter = 0;

/** Writes run.json via a temp file in the same folder and rename (atomic on POSIX). */
export async function writeRunRecord(record: LocalRunRecord): Promise<void> {
  const file = path.join(record.runDir, RUN_FILE);
  const temp = `${file}.${process.pid}.${++tempCounter}.tmp`;
  await fs.promises.writeFile(temp, JSON.stringify(record, null, 2) + "\n", "utf8");
  await fs.promises.rename(temp, file);
}

export class LocalRunNotFoundError extends Error {
  constructor(readonly runsDir: string, readonly runId: string, detail: string) {
    super(`no local run '${runId}' in ${runsDir} (${detail})`);
    this.name = "LocalRunNotFoundError";
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Reads a run's status from `<runsDir>/<runId>/run.json`. A run still marked NotStarted/Running whose runner
 * process (on this host) is gone is reported as NotResponding (final), so a waiter does not wait forever.
 * Throws LocalRunNotFoundError for an unknown id, Error for an unreadable file.
 */
export function readLocalRun(runsDir: string, runId: string): LocalRunRecord {
  const problem = runIdProblem(runId);
  if (problem) throw new LocalRunNotFoundError(runsDir, runId, problem);
  const file = path.join(path.resolve(runsDir), runId, RUN_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new LocalRunNotFoundError(runsDir, runId, `${file} does not exist`);
    throw e;
  }
  let record: LocalRunRecord;
  try {
    record = JSON.parse(text) as LocalRunRecord;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (record.schemaVersion !== 1 || record.runId !== runId || !Array.isArray(record.steps)) {
    throw new Error(`${file}: not a local run record (schemaVersion 1, runId ${runId})`);
  }
  if (!isFinalStatus(record.status) && record.runner?.host === os.hostname() && !processAlive(record.runner.pid)) {
    return {
      ...record,
      status: "NotResponding",
      error: { kind: "runner", message: `the runner process (pid ${record.runner.pid}) ended before the run finished` },
    };
  }
  return record;
}

/** Run ids in a runs folder, oldest first (ids sort by start time). */
export function listLocalRuns(runsDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(runsDir);
  } catch {
    return [];
  }
  return names.filter((n) => !runIdProblem(n) && fs.existsSync(path.join(runsDir, n, RUN_FILE))).sort();
}
