/**
 * The scripts' credential (lib/azureCredential.ts: GitHub OIDC in CI, the developer's sign-in elsewhere) and the
 * token scopes of the cloud they talk to (lib/cloud.ts); and the one mapping from Azure SDK errors to exit codes.
 */
import type { TokenCredential } from "@azure/core-auth";
import { azureCredential } from "../../../lib/azureCredential";
import { CLOUDS, cloudFromEnv } from "../../../lib/cloud";
import { CliError, ExitCode } from "../exitCodes";

/** The public cloud's scopes; code asks cloudScopes() for the configured cloud's. */
export const ML_SCOPE = CLOUDS.AzureCloud.mlScope;
export const STORAGE_SCOPE = CLOUDS.AzureCloud.storageScope;
export const ARM_SCOPE = CLOUDS.AzureCloud.armScope;

/** The token scopes of the configured cloud: ARM, the Azure ML data plane (invoke), blob storage. */
export function cloudScopes(env: NodeJS.ProcessEnv = process.env): { arm: string; ml: string; storage: string } {
  try {
    const c = cloudFromEnv(env);
    return { arm: c.armScope, ml: c.mlScope, storage: c.storageScope };
  } catch (e) {
    throw toCliError(e, "choosing the Azure cloud");
  }
}

/** The one credential (see lib/azureCredential.ts); bad cloud or sign-in settings are a usage error (exit 2). */
export function defaultCredential(env: NodeJS.ProcessEnv = process.env): TokenCredential {
  try {
    return azureCredential(env);
  } catch (e) {
    throw toCliError(e, "signing in to Azure");
  }
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
    r?.name === "GithubIdTokenError" ||
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
  if ((e as Error)?.name === "CloudError" || (e as Error)?.name === "SignInConfigError") return new CliError(ExitCode.Usage, `${what}: ${(e as Error).message}`);
  if (isAuthError(e)) {
    const how =
      r.statusCode === 403
        ? "the signed-in identity lacks permission (AzureML Data Scientist on the workspace; Storage Blob Data Contributor on its storage)"
        : "sign in (az login, or the AZURE_* variables of a service principal / workload identity; in GitHub Actions, `permissions: id-token: write` and ARM_CLIENT_ID / ARM_TENANT_ID of an identity federated for this job) and try again";
    return new CliError(ExitCode.Auth, `${what}: ${r.statusCode ? `HTTP ${r.statusCode}: ` : ""}${serviceMessage(e).split("\n")[0]}`, how);
  }
  if (isTransient(e)) {
    return new CliError(ExitCode.Unavailable, `${what}: the service kept failing after retries (${r.statusCode ? `HTTP ${r.statusCode}: ` : ""}${serviceMessage(e).split("\n")[0]})`);
  }
  if (r?.statusCode === 404) return new CliError(ExitCode.Usage, `${what}: not found (${serviceMessage(e).split("\n")[0]})`);
  if (r?.statusCode !== undefined && r.statusCode >= 400) return new CliError(ExitCode.Usage, `${what}: HTTP ${r.statusCode}: ${serviceMessage(e)}`);
  return new CliError(ExitCode.Internal, `${what}: ${(e as Error)?.message ?? String(e)}`);
}
