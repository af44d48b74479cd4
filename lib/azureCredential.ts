/**
 * The one credential every Azure call of this project uses: the stack's dynamic providers (uploads, asset
 * versions, the default pointer), the program's datastore lookup and the scripts.
 *
 *  - In GitHub Actions with OIDC (the variables azure-native's ARM_USE_OIDC path reads: ARM_OIDC_REQUEST_URL /
 *    ARM_OIDC_REQUEST_TOKEN, else ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN, and ARM_CLIENT_ID / ARM_TENANT_ID, else
 *    AZURE_CLIENT_ID / AZURE_TENANT_ID): a ClientAssertionCredential whose assertion callback asks GitHub for a
 *    fresh ID token (audience api://AzureADTokenExchange) every time Entra needs one. Nothing depends on when the
 *    job signed in, so the first call may come hours later and a long wait renews its tokens as it goes.
 *  - Elsewhere: the developer's own sign-in (DefaultAzureCredential: az login, a service principal's AZURE_*
 *    variables, workload or managed identity).
 * ARM_USE_OIDC=false (as azure-native reads it) keeps the developer's sign-in even inside GitHub Actions.
 * One identity acts on the stack: azure-native and this credential read the same client and tenant ids, and
 * two different ids (ARM_CLIENT_ID vs AZURE_CLIENT_ID) are refused rather than silently picking one.
 * The authority comes from the cloud (lib/cloud.ts), or AZURE_AUTHORITY_HOST; instance discovery is turned off
 * only for an authority that is not one of the known clouds' (a private authority or a test server).
 */
import type { TokenCredential } from "@azure/core-auth";
import { ClientAssertionCredential, DefaultAzureCredential } from "@azure/identity";
import { authorityHost, cloudFromEnv, isKnownAuthority } from "./cloud";

/** The audience Entra's workload identity federation expects in a GitHub ID token. */
export const GITHUB_OIDC_AUDIENCE = "api://AzureADTokenExchange";

export type SignIn =
  | {
      readonly kind: "github-oidc";
      readonly requestUrl: string;
      readonly requestToken: string;
      readonly clientId: string;
      readonly tenantId: string;
      readonly authorityHost: string;
    }
  | { readonly kind: "developer"; readonly authorityHost: string };

/** Sign-in settings that cannot work (missing or contradictory): a usage error, with what to set. */
export class SignInConfigError extends Error {
  override readonly name = "SignInConfigError";
}

/** GitHub's ID-token endpoint refused or failed: an authentication error. */
export class GithubIdTokenError extends Error {
  override readonly name = "GithubIdTokenError";
  constructor(message: string, readonly statusCode?: number) {
    super(message);
  }
}

function firstOf(env: NodeJS.ProcessEnv, names: readonly string[], what: string): string | undefined {
  const set = names.filter((n) => env[n]?.trim()).map((n) => [n, env[n]!.trim()] as const);
  if (new Set(set.map(([, v]) => v)).size > 1) {
    throw new SignInConfigError(`${set.map(([n]) => n).join(" and ")} name different ${what}s: one identity acts on the stack, so set one (or make them equal)`);
  }
  return set[0]?.[1];
}

/** Which sign-in these settings ask for (pure). */
export function signInFrom(env: NodeJS.ProcessEnv = process.env): SignIn {
  const host = authorityHost(env);
  const requestUrl = env.ARM_OIDC_REQUEST_URL?.trim() || env.ACTIONS_ID_TOKEN_REQUEST_URL?.trim();
  const requestToken = env.ARM_OIDC_REQUEST_TOKEN?.trim() || env.ACTIONS_ID_TOKEN_REQUEST_TOKEN?.trim();
  const clientId = firstOf(env, ["ARM_CLIENT_ID", "AZURE_CLIENT_ID"], "client id");
  const tenantId = firstOf(env, ["ARM_TENANT_ID", "AZURE_TENANT_ID"], "tenant id");
  const asked = /^(true|1)$/i.test(env.ARM_USE_OIDC?.trim() ?? "");
  const refused = /^(false|0)$/i.test(env.ARM_USE_OIDC?.trim() ?? "");
  if (refused || (!asked && !(requestUrl && requestToken && clientId))) return { kind: "developer", authorityHost: host };
  const missing = [
    ...(requestUrl && requestToken ? [] : ["ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN (the job needs `permissions: id-token: write`)"]),
    ...(clientId ? [] : ["ARM_CLIENT_ID (or AZURE_CLIENT_ID)"]),
    ...(tenantId ? [] : ["ARM_TENANT_ID (or AZURE_TENANT_ID)"]),
  ];
  if (missing.length > 0) throw new SignInConfigError(`GitHub OIDC sign-in${asked ? " (ARM_USE_OIDC=true)" : ""} needs ${missing.join(", ")}`);
  return { kind: "github-oidc", requestUrl: requestUrl!, requestToken: requestToken!, clientId: clientId!, tenantId: tenantId!, authorityHost: host };
}

const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A new GitHub Actions ID token for `audience`: GET the request URL with `audience=`, bearer the request token;
 * the answer is `{"value": "<JWT>"}`. Retries 429/5xx and network failures twice; never prints either token.
 */
export async function requestGithubIdToken(requestUrl: string, requestToken: string, audience: string = GITHUB_OIDC_AUDIENCE): Promise<string> {
  const url = new URL(requestUrl);
  url.searchParams.set("audience", audience);
  let last: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    if (attempt > 1) await sleepMs(500 * (attempt - 1));
    let res: Response;
    try {
      res = await fetch(url, { headers: { Authorization: `Bearer ${requestToken}`, Accept: "application/json; api-version=2.0" }, signal: AbortSignal.timeout(30_000) });
    } catch (e) {
      last = new GithubIdTokenError(`GitHub's ID-token endpoint (${url.host}) could not be reached: ${(e as Error).message}`);
      continue;
    }
    if (res.status === 429 || res.status >= 500) {
      last = new GithubIdTokenError(`GitHub's ID-token endpoint answered HTTP ${res.status}`, res.status);
      continue;
    }
    if (!res.ok) {
      throw new GithubIdTokenError(
        `GitHub's ID-token endpoint refused the request: HTTP ${res.status} (does the job have \`permissions: id-token: write\`, and is this still the job that was given the request token?)`,
        res.status,
      );
    }
    const body = (await res.json().catch(() => undefined)) as { value?: unknown } | undefined;
    if (typeof body?.value !== "string" || body.value === "") throw new GithubIdTokenError("GitHub's ID-token endpoint answered without a token (no `value`)");
    return body.value;
  }
  throw last;
}

/** The credential for these settings (see the module comment). Throws SignInConfigError / CloudError. */
export function azureCredential(env: NodeJS.ProcessEnv = process.env): TokenCredential {
  cloudFromEnv(env); // refuse an unknown cloud before anything signs in
  const signIn = signInFrom(env);
  const options = { authorityHost: signIn.authorityHost, disableInstanceDiscovery: !isKnownAuthority(signIn.authorityHost) };
  if (signIn.kind === "developer") return new DefaultAzureCredential(options);
  const { requestUrl, requestToken } = signIn;
  return new ClientAssertionCredential(signIn.tenantId, signIn.clientId, () => requestGithubIdToken(requestUrl, requestToken), options);
}
