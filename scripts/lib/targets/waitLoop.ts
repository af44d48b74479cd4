/**
 * Follows a job (Azure ML or local) until it is final: polls with a capped backoff (reset on each status
 * change), honours Retry-After (beyond the backoff cap), tolerates a run of transient failures, stops at the timeout or on abort
 * — on time even when a status request hangs: the poll gets an AbortSignal that the timeout trips, and the wait
 * does not outlive it whatever the poll does.
 * Plain loop over a `poll` function, so the Azure and local targets share it and tests can count calls.
 */
import { CliError, ExitCode } from "../exitCodes";
import { isAuthError, isTransient, toCliError } from "../azure/credential";
import { retryAfterOf, retryDelay, sleep } from "../azure/retry";

export interface JobStatusView {
  readonly status: string;
  readonly final: boolean;
  readonly error?: { readonly message: string; readonly step?: string };
  readonly studioUrl?: string;
}

export interface WaitOptions {
  readonly poll: (signal?: AbortSignal) => Promise<JobStatusView>;
  readonly timeoutMs?: number;
  readonly intervalMs: number;
  readonly maxIntervalMs: number;
  /** Consecutive transient failures tolerated before giving up (exit 5). */
  readonly maxFailures?: number;
  readonly signal?: AbortSignal;
  readonly onStatus?: (status: string, elapsedMs: number) => void;
  readonly onRetry?: (why: string, waitMs: number) => void;
}

export interface WaitResult {
  readonly view: JobStatusView;
  readonly elapsedMs: number;
  readonly calls: number;
}

export class WaitTimeout extends CliError {
  constructor(readonly last: JobStatusView | undefined, readonly elapsedMs: number, readonly timeoutMs?: number) {
    // The configured timeout, not the measured time: a loaded machine's late timer must not make it read as another value.
    super(ExitCode.Timeout, `--timeout reached after ${Math.round((timeoutMs ?? elapsedMs) / 1000)}s; the job is still ${last?.status ?? "unknown"} and keeps running`);
  }
}

export async function waitForFinal(o: WaitOptions): Promise<WaitResult> {
  const started = Date.now();
  const deadline = o.timeoutMs !== undefined ? started + o.timeoutMs : Infinity;
  // The timeout trips an internal signal so a poll stuck on a slow server is cut off too.
  const inner = new AbortController();
  const onOuter = () => inner.abort(o.signal?.reason);
  o.signal?.addEventListener("abort", onOuter, { once: true });
  const timer = Number.isFinite(deadline) ? setTimeout(() => inner.abort(new WaitTimeout(last, Date.now() - started, o.timeoutMs)), Math.max(0, deadline - started)) : undefined;
  let last: JobStatusView | undefined;
  let interval = o.intervalMs;
  let failures = 0;
  let calls = 0;
  try {
    for (;;) {
      let waitMs = interval;
      try {
        calls++;
        const view = await untilAborted(o.poll(inner.signal), inner.signal);
        failures = 0;
        if (view.status !== last?.status) {
          o.onStatus?.(view.status, Date.now() - started);
          interval = o.intervalMs;
        } else {
          interval = Math.min(o.maxIntervalMs, Math.round(interval * 1.5));
        }
        last = view;
        if (view.final) return { view, elapsedMs: Date.now() - started, calls };
        waitMs = interval;
      } catch (e) {
        if (inner.signal.aborted) throw abortError(inner.signal, last, started);
        if (e instanceof CliError) throw e;
        if (isAuthError(e) || !isTransient(e)) throw toCliError(e, "reading the job's status");
        failures++;
        if (failures > (o.maxFailures ?? 8)) throw toCliError(e, "reading the job's status");
        waitMs = retryDelay(retryAfterOf(e), Math.min(o.maxIntervalMs, o.intervalMs * 2 ** failures));
        o.onRetry?.((e as Error).message?.split("\n")[0] ?? String(e), waitMs);
      }
      try {
        await sleep(waitMs, inner.signal);
      } catch {
        throw abortError(inner.signal, last, started);
      }
    }
  } finally {
    if (timer) clearTimeout(timer);
    o.signal?.removeEventListener("abort", onOuter);
  }
}

/**
 * Settles with `p`, or rejects as soon as `signal` aborts even if `p` never settles: a poll's signal cuts its HTTP
 * request, but not every step before it listens (a credential spawning `az`, a stalled token endpoint).
 */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener("abort", onAbort), resolve(v)),
      (e) => (signal.removeEventListener("abort", onAbort), reject(e)),
    );
  });
}

function abortError(signal: AbortSignal, last: JobStatusView | undefined, started: number): Error {
  const r = signal.reason;
  if (r instanceof WaitTimeout) return new WaitTimeout(last, Date.now() - started, r.timeoutMs);
  if (r instanceof CliError) return r;
  return new CliError(ExitCode.Interrupted, "interrupted");
}
