/**
 * One raw ARM call through the shared client's pipeline (lib/armClient.ts: api-version, endpoint, token audience,
 * retries on 429/5xx): the body goes out exactly as given and comes back as the service sent it, with the headers
 * the callers need (ETag, Azure-AsyncOperation, Retry-After). The typed SDK operations would pass bodies through
 * models older than the API version sent, which drop the fields they do not know.
 */
import { createHttpHeaders, createPipelineRequest } from "@azure/core-rest-pipeline";
import type { AzureMachineLearningWorkspaces } from "@azure/arm-machinelearning";

export interface ArmAnswer {
  readonly status: number;
  readonly text?: string;
  /** Header lookup, case-insensitive. */
  header(name: string): string | undefined;
}

export type ArmMethod = "GET" | "PUT" | "DELETE";

/** `path` is an ARM path (/subscriptions/...) or an absolute URL the service handed out (an operation to poll). */
export async function armRequest(
  client: AzureMachineLearningWorkspaces,
  method: ArmMethod,
  path: string,
  opts: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<ArmAnswer> {
  const base = /^https?:\/\//.test(path) ? path : `${client.$host}${path}`;
  const url = base.includes("api-version=") ? base : `${base}${base.includes("?") ? "&" : "?"}api-version=${encodeURIComponent(client.apiVersion)}`;
  const headers: Record<string, string> = { accept: "application/json", ...(opts.headers ?? {}) };
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const res = await client.sendRequest(
    createPipelineRequest({ url, method, headers: createHttpHeaders(headers), ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }) }),
  );
  return { status: res.status, text: res.bodyAsText ?? undefined, header: (name) => res.headers.get(name) };
}

/** The JSON body of an answer, or undefined when it has none or it is not JSON. */
export function jsonOf(answer: ArmAnswer): any {
  if (!answer.text) return undefined;
  try {
    return JSON.parse(answer.text);
  } catch {
    return undefined;
  }
}

/** `Code: message` from ARM's error body, or the start of the text. */
export function serviceMessage(text: string | undefined): string {
  if (!text) return "";
  try {
    const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    if (e) return `${e.code ?? "Error"}: ${e.message ?? ""}`.trim();
  } catch {
    // not JSON: fall through
  }
  return text.slice(0, 300);
}
