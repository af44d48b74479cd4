/**
 * Unsigned JWTs of the shape Entra ID issues, for the local servers tests talk to: Azurite's "basic"
 * OAuth mode checks issuer, audience and lifetime (not the signature), and the fake Azure ML service checks
 * the audience and expiry. A TokenCredential over them for code under test that takes a credential.
 */
import type { AccessToken, TokenCredential } from "@azure/core-auth";

export const TEST_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";

function b64url(obj: object): string {
  return Buffer.from(JSON.stringify(obj)).toString("base64url");
}

/** `resource` is an audience such as https://storage.azure.com or https://ml.azure.com (no /.default). */
export function makeJwt(resource: string, lifetimeSeconds = 3600, extra: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    aud: resource,
    iss: `https://sts.windows.net/${TEST_TENANT}/`,
    iat: now - 60,
    nbf: now - 60,
    exp: now + lifetimeSeconds,
    oid: "00000000-0000-0000-0000-0000000000aa",
    tid: TEST_TENANT,
    appid: "00000000-0000-0000-0000-0000000000bb",
    ...extra,
  };
  return `${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims)}.`;
}

export function decodeJwt(token: string): Record<string, unknown> {
  const [, payload] = token.split(".");
  return JSON.parse(Buffer.from(payload ?? "", "base64url").toString("utf8"));
}

export function scopeToResource(scope: string): string {
  return scope.replace(/\/\.default$/, "");
}

/** A credential that mints test JWTs for whatever scope it is asked for, and records the scopes. */
export class TestTokenCredential implements TokenCredential {
  readonly scopesAsked: string[] = [];
  constructor(private readonly lifetimeSeconds = 3600, private readonly audienceOverride?: string) {}
  async getToken(scopes: string | string[]): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? scopes[0] : scopes;
    this.scopesAsked.push(scope);
    const resource = this.audienceOverride ?? scopeToResource(scope);
    return { token: makeJwt(resource, this.lifetimeSeconds), expiresOnTimestamp: Date.now() + this.lifetimeSeconds * 1000 };
  }
}
