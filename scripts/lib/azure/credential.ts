/**
 * The scripts' credential (DefaultAzureCredential: environment, workload identity, managed identity, Azure CLI, …)
 * and the token audiences they ask for; and the one mapping from Azure SDK errors to exit codes.
 */
import type { TokenCredential } from "@azure/core-auth";
import { DefaultAzureCredential } from "@azure/identity";
import { CliError, ExitCode } from "../exitCodes";

/** Data plane of batch endpoints (invoke). */
export const ML_SCOPE = "https://ml.azure.com/.default";
/** Blob storage (uploads and downloads). */
export const STORAGE_SCOPE = "https://storage.azure.com/.default";
export { ARM_SCOPE } from "../../../lib/armClient";

export function defaultCredential(): TokenCredential {
  return new DefaultAzureCredential();
}

interface RestLike {
  name?: string;
  statusCode?: number;
  code?: string;
  message?: string;
  details?: { error?: { code?: string; message?: string } } | unknown;
}

/** The service's own message from an ARM/data-plane error body, when there is one. */
export function serviceMessage(e: unknown): string {
  const r = e as RestLike;
  const body = (r.details as { error?: { code?: string; message?: string } } | undefined)?.error;
  const msg = body?.message ?? r.message ?? String(e);
  return msg.length > 600 ? `${msg.slice(0, 600)}…` : msg;
}

export function isAuthError(e: unknown): boolean {
  const r = e as RestLike;
  return (
    r?.statusCode === 401 ||
    r?.statusCode === 403 ||
    r?.name === "CredentialUnavailableError" ||
    r?.name === "AuthenticationError" ||
    r?.name === "AggregateAuthenticationError"
  );
}

/** 429, 5xx and network failures: worth retrying, or "unavailable" once retries are spent. */
export function isTransient(e: unknown): boolean {
  const r = e as RestLike;
  if (r?.statusCode === 408 || r?.statusCode === 429 || (r?.statusCode !== undefined && r.statusCode >= 500)) return true;
  return r?.statusCode === undefined && (r?.name === "RestError" || /ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|socket hang up|network/i.test(String(r?.code ?? r?.message ?? "")));
}

/** Turns an Azure SDK/credential error into the CliError with the documented exit code. `what` says what was being done. */
export function toCliError(e: unknown, what: string): CliError {
  if (e instanceof CliError) return e;
  const r = e as RestLike;
  if ((e as Error)?.name === "AbortError") return new CliError(ExitCode.Interrupted, `${what}: interrupted`);
  if (isAuthError(e)) {
    const how =
      r.statusCode === 403
        ? "the signed-in identity lacks permission (AzureML Data Scientist on the workspace; Storage Blob Data Contributor on its storage)"
        : "sign in (az login, or the AZURE_* variables of a service principal / workload identity) and try again";
    return new CliError(ExitCode.Auth, `${what}: ${r.statusCode ? `HTTP ${r.statusCode}: ` : ""}${serviceMessage(e).split("\n")[0]}`, how);
  }
  if (isTransient(e)) {
    return new CliError(ExitCode.Unavailable, `${what}: the service kept failing after retries (${r.statusCode ? `HTTP ${r.statusCode}: ` : ""}${serviceMessage(e).split("\n")[0]})`);
  }
  if (r?.statusCode === 404) return new CliError(ExitCode.Usage, `${what}: not found (${serviceMessage(e).split("\n")[0]})`);
  if (r?.statusCode !== undefined && r.statusCode >= 400) return new CliError(ExitCode.Usage, `${what}: HTTP ${r.statusCode}: ${serviceMessage(e)}`);
  return new CliError(ExitCode.Internal, `${what}: ${(e as Error)?.message ?? String(e)}`);
}
