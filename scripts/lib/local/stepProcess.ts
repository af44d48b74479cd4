/**
 * Runs one step's command the way Azure ML does (`/bin/bash -c "<command>"` in the code folder), in its own
 * process group so that cancelling kills the whole tree, with stdout/stderr saved to log files and passed on
 * line by line. Optionally measures the peak memory of the step's processes with GNU time.
 */
import { spawn } from "child_process";
import * as fs from "fs";

export const GNU_TIME = "/usr/bin/time";

export interface StepProcessOptions {
  readonly command: string;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly stdoutLog: string;
  readonly stderrLog: string;
  readonly signal?: AbortSignal;
  /** How long a canceled step gets after SIGTERM before SIGKILL. */
  readonly killGraceMs: number;
  /** When set (and GNU time is installed), peak RSS and CPU time are written here and returned. */
  readonly resourceFile?: string;
  readonly onLine?: (stream: "stdout" | "stderr", line: string) => void;
}

export interface StepProcessResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly canceled: boolean;
  readonly durationMs: number;
  /** The last lines of stderr (at most TAIL_LINES). */
  readonly stderrTail: readonly string[];
  readonly peakRssKiB?: number;
  /** User + system CPU time of the step's processes (only when measured). */
  readonly cpuMs?: number;
  /** Set when the process could not be started at all. */
  readonly spawnError?: string;
}

const TAIL_LINES = 40;

/** Process groups of running steps: killed if this process exits (e.g. a second Ctrl-C) so no step is orphaned. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function trackGroup(pgid: number): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", () => {
      for (const g of liveGroups) killGroup(g, "SIGKILL");
    });
  }
  liveGroups.add(pgid);
}

function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // already gone
  }
}

function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let rest = "";
  return {
    push(chunk) {
      const text = rest + chunk.toString("utf8");
      const lines = text.split("\n");
      rest = lines.pop() ?? "";
      for (const l of lines) onLine(l.replace(/\r$/, ""));
    },
    end() {
      if (rest) onLine(rest.replace(/\r$/, ""));
      rest = "";
    },
  };
}

function endStream(s: fs.WriteStream): Promise<void> {
  return new Promise((resolve) => s.end(() => resolve()));
}

export function gnuTimeAvailable(): boolean {
  try {
    fs.accessSync(GNU_TIME, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * GNU time's -o file: possibly "Command exited with non-zero status N", then "%M %U %S" on the last line.
 * ru_maxrss covers the waited-for descendants too, so %M is the largest process of the step (bash, python).
 */
export const GNU_TIME_FORMAT = "%M %U %S";
export function readGnuTimeFile(file: string): { peakRssKiB?: number; cpuMs?: number } {
  try {
    const lines = fs.readFileSync(file, "utf8").trim().split("\n");
    const [rss, user, sys] = lines[lines.length - 1].trim().split(/\s+/).map(Number);
    return {
      peakRssKiB: Number.isFinite(rss) && rss > 0 ? rss : undefined,
      cpuMs: Number.isFinite(user) && Number.isFinite(sys) ? Math.round((user + sys) * 1000) : undefined,
    };
  } catch {
    return {};
  }
}

export async function runStepProcess(o: StepProcessOptions): Promise<StepProcessResult> {
  const started = Date.now();
  const measure = o.resourceFile !== undefined && gnuTimeAvailable();
  const [file, argv] = measure
    ? [GNU_TIME, ["-f", GNU_TIME_FORMAT, "-o", o.resourceFile!, "/bin/bash", "-c", o.command]]
    : ["/bin/bash", ["-c", o.command]];
  const out = fs.createWriteStream(o.stdoutLog);
  const err = fs.createWriteStream(o.stderrLog);
  const tail: string[] = [];
  const splitOut = lineSplitter((l) => o.onLine?.("stdout", l));
  const splitErr = lineSplitter((l) => {
    tail.push(l);
    if (tail.length > TAIL_LINES) tail.shift();
    o.onLine?.("stderr", l);
  });

  if (o.signal?.aborted) {
    await Promise.all([endStream(out), endStream(err)]);
    return { exitCode: null, signal: null, canceled: true, durationMs: 0, stderrTail: [] };
  }

  return new Promise<StepProcessResult>((resolve) => {
    let canceled = false;
    let killTimer: NodeJS.Timeout | undefined;
    let spawnError: string | undefined;
    const child = spawn(file, argv, { cwd: o.cwd, env: o.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    if (child.pid !== undefined) trackGroup(child.pid);
    const onAbort = () => {
      if (child.pid === undefined || canceled) return;
      canceled = true;
      killGroup(child.pid, "SIGTERM");
      killTimer = setTimeout(() => child.pid !== undefined && killGroup(child.pid, "SIGKILL"), o.killGraceMs);
      killTimer.unref();
    };
    o.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout.on("data", (c: Buffer) => {
      out.write(c);
      splitOut.push(c);
    });
    child.stderr.on("data", (c: Buffer) => {
      err.write(c);
      splitErr.push(c);
    });
    let finished = false;
    const finish = async (code: number | null, sig: NodeJS.Signals | null) => {
      if (finished) return;
      finished = true;
      o.signal?.removeEventListener("abort", onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (child.pid !== undefined) {
        // bash may have left background children behind; the step is over, so is its group.
        killGroup(child.pid, "SIGKILL");
        liveGroups.delete(child.pid);
      }
      splitOut.end();
      splitErr.end();
      await Promise.all([endStream(out), endStream(err)]);
      resolve({
        exitCode: code,
        signal: sig,
        canceled,
        durationMs: Date.now() - started,
        stderrTail: tail,
        ...(measure ? readGnuTimeFile(o.resourceFile!) : {}),
        spawnError,
      });
    };
    child.on("error", (e) => {
      spawnError = `could not start ${file}: ${e.message}`;
      if (child.pid === undefined) void finish(null, null);
    });
    child.on("close", (code, sig) => void finish(code, sig));
  });
}
