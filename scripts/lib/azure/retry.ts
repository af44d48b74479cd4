/** Small timing helpers shared by invoke, wait and jobs: abortable sleep, Retry-After, capped backoff. */
import { CliError, ExitCode } from "../exitCodes";

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    const onAbort = () => {
      clearTimeout(t);
      reject(abortReason(signal!));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new CliError(ExitCode.Interrupted, "interrupted");
}

/** Retry-After in ms from a header value (seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const s = Number(value);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const d = Date.parse(value);
  return Number.isNaN(d) ? undefined : Math.max(0, d - now);
}

/** The Retry-After of an SDK RestError's response, if any. */
export function retryAfterOf(e: unknown): number | undefined {
  const headers = (e as { response?: { headers?: { get(n: string): string | undefined } } })?.response?.headers;
  return parseRetryAfter(headers?.get?.("retry-after") ?? headers?.get?.("x-ms-retry-after-ms") ?? undefined);
}

export function envMs(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const v = Number(env[name]);
  return Number.isFinite(v) && v >= 0 && env[name] !== "" && env[name] !== undefined ? v : fallback;
}

export function backoff(attempt: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** attempt);
}

/** The longest Retry-After honoured: a server asking for more is treated as asking for this (keeps a run sane). */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

/**
 * How long to wait before trying again: the server's Retry-After when it gave one (it knows when it will
 * answer; polling earlier only earns another 429), never less than our own capped backoff.
 */
export function retryDelay(retryAfterMs: number | undefined, backoffMs: number): number {
  return retryAfterMs === undefined ? backoffMs : Math.max(Math.min(retryAfterMs, MAX_RETRY_AFTER_MS), backoffMs);
}
