/** Local run ids: time-sortable, unique enough, and safe as a folder name and as an Azure ML-style job name. */
import { randomBytes } from "crypto";

/** Run ids and invocation ids: safe as a folder name, a blob path segment and an Azure ML job name. */
export const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** e.g. local-20261125-213012-345-9f2c1a (UTC). Lexical order is start order. */
export function newRunId(now: Date = new Date()): string {
  const iso = now.toISOString(); // 2026-11-25T21:30:12.345Z
  const stamp = `${iso.slice(0, 10).replace(/-/g, "")}-${iso.slice(11, 19).replace(/:/g, "")}-${iso.slice(20, 23)}`;
  return `local-${stamp}-${randomBytes(3).toString("hex")}`;
}

/** A problem with a run id, or undefined when it is acceptable. */
export function runIdProblem(id: string): string | undefined {
  const p = safeIdProblem(id);
  return p && `run id '${id}' is not valid: ${p}`;
}

/** What is wrong with an id against SAFE_ID, or undefined. */
export function safeIdProblem(id: string): string | undefined {
  return SAFE_ID.test(id) ? undefined : "use 1-128 letters, digits, '-' or '_', starting with a letter or digit";
}
