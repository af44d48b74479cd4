/**
 * GitHub Actions' ID-token endpoint and Microsoft Entra's token endpoint, on one HTTPS loopback server (the test
 * certificate of test/run-all.sh), so the real @azure/identity ClientAssertionCredential runs end to end.
 *
 * GitHub side (as the runner exposes it): GET {ACTIONS_ID_TOKEN_REQUEST_URL}&audience=A with
 * `Authorization: Bearer {ACTIONS_ID_TOKEN_REQUEST_TOKEN}` → 200 `{"value": "<JWT>"}`; a wrong request token → 401.
 * The JWT has GitHub's claims (iss https://token.actions.githubusercontent.com, aud, sub, jti, iat/nbf/exp) and a
 * short, settable lifetime.
 *
 * Entra side: GET /{tenant}/v2.0/.well-known/openid-configuration (the authority metadata MSAL reads), and
 * POST /{tenant}/oauth2/v2.0/token, form-encoded, grant_type=client_credentials with
 * client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer. The assertion is checked as
 * workload identity federation does: issued by this GitHub fake (standing in for the signature check), not
 * expired (AADSTS700024), audience api://AzureADTokenExchange, and issuer + subject matching a federated
 * credential of the client id (AADSTS70021). Success is the documented v2.0 answer
 * `{token_type: "Bearer", expires_in, ext_expires_in, access_token}`; failures are `{error, error_description,
 * error_codes, timestamp, trace_id, correlation_id}` with 400/401. Access tokens are the test JWTs of
 * test/support/tokens.ts (what Azurite and the fake Azure ML service accept) for the scope's resource.
 */
import * as crypto from "crypto";
import * as https from "https";
import type { IncomingMessage, ServerResponse } from "http";
import { testTls } from "./tls";
import { decodeJwt, makeJwt, scopeToResource, TEST_TENANT } from "./tokens";

export const GITHUB_ISSUER = "https://token.actions.githubusercontent.com";
export const EXCHANGE_AUDIENCE = "api://AzureADTokenExchange";

export interface FederatedCredential {
  readonly clientId: string;
  readonly subject: string;
  readonly issuer?: string;
  readonly audience?: string;
}

export interface FakeOidcOptions {
  /** Lifetime of each GitHub ID token. @default 300 */
  idTokenSeconds?: number;
  /** Lifetime of each Entra access token. @default 3600 */
  accessTokenSeconds?: number;
  /** The `sub` of the ID tokens (the workflow's job). @default repo:acme/heart:environment:shared-stack */
  subject?: string;
  /** Federated credentials Entra knows. @default one for DEPLOY_CLIENT on the default subject */
  federated?: FederatedCredential[];
  tenantId?: string;
}

export const DEPLOY_CLIENT = "11111111-2222-3333-4444-555555555555";

export interface IssuedIdToken {
  readonly jti: string;
  readonly aud: string;
  readonly sub: string;
  readonly iat: number;
  readonly exp: number;
}

export interface Exchange {
  /** When Entra received it (ms). */
  readonly at: number;
  readonly clientId: string;
  readonly scope: string;
  readonly assertionJti?: string;
  /** The assertion's exp (s), when it decoded. */
  readonly assertionExp?: number;
  /** "ok" or the AADSTS code refused with. */
  readonly outcome: string;
}

export class FakeOidc {
  url = "";
  readonly requestToken = crypto.randomBytes(24).toString("hex");
  readonly tenantId: string;
  readonly issued: IssuedIdToken[] = [];
  readonly exchanges: Exchange[] = [];
  idTokenSeconds: number;
  accessTokenSeconds: number;
  subject: string;
  readonly federated: FederatedCredential[];
  /** The next N ID-token requests answer 503 (GitHub having a bad moment). */
  githubFailures = 0;
  /** Requests that reached the server, "METHOD path" (no query). */
  readonly seen: string[] = [];
  private server?: https.Server;

  constructor(opts: FakeOidcOptions = {}) {
    this.idTokenSeconds = opts.idTokenSeconds ?? 300;
    this.accessTokenSeconds = opts.accessTokenSeconds ?? 3600;
    this.subject = opts.subject ?? "repo:acme/heart:environment:shared-stack";
    this.tenantId = opts.tenantId ?? TEST_TENANT;
    this.federated = opts.federated ?? [{ clientId: DEPLOY_CLIENT, subject: this.subject }];
  }

  /** What the runner sets as ACTIONS_ID_TOKEN_REQUEST_URL (it carries a query already, as GitHub's does). */
  get requestUrl(): string {
    return `${this.url}/github/idtoken?api-version=2.0`;
  }
  get authorityHost(): string {
    return this.url;
  }

  /** The environment a GitHub job with `id-token: write` and the ARM_* variables of the workflows has. */
  jobEnv(clientId = DEPLOY_CLIENT): Record<string, string> {
    return {
      ACTIONS_ID_TOKEN_REQUEST_URL: this.requestUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: this.requestToken,
      ARM_USE_OIDC: "true",
      ARM_CLIENT_ID: clientId,
      ARM_TENANT_ID: this.tenantId,
      AZURE_AUTHORITY_HOST: this.authorityHost,
    };
  }

  /** A GitHub ID token as the endpoint would issue it now (for tests that hold one, as a one-time login does). */
  mintIdToken(audience = EXCHANGE_AUDIENCE): string {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: GITHUB_ISSUER, aud: audience, sub: this.subject, jti: crypto.randomUUID(), iat: now, nbf: now, exp: now + this.idTokenSeconds, repository: "acme/heart" };
    this.issued.push({ jti: claims.jti, aud: audience, sub: this.subject, iat: now, exp: claims.exp });
    return `${Buffer.from(JSON.stringify({ alg: "RS256", typ: "JWT", kid: "fake" })).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.c2lnbmF0dXJl`;
  }

  async start(): Promise<void> {
    const tls = testTls();
    this.server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `https://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.closeAllConnections?.();
      this.server.close(() => resolve());
    });
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
    res.end(JSON.stringify(body));
  }

  private entraError(res: ServerResponse, status: number, error: string, code: number, text: string): void {
    const traceId = crypto.randomUUID();
    this.send(res, status, {
      error,
      error_description: `AADSTS${code}: ${text} Trace ID: ${traceId} Correlation ID: ${traceId} Timestamp: ${new Date().toISOString()}`,
      error_codes: [code],
      timestamp: new Date().toISOString().replace("T", " ").replace("Z", "Z"),
      trace_id: traceId,
      correlation_id: traceId,
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    this.seen.push(`${req.method} ${url.pathname}`);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");

    if (req.method === "GET" && url.pathname === "/github/idtoken") {
      if (req.headers.authorization !== `Bearer ${this.requestToken}`) return this.send(res, 401, { message: "Bad credentials" });
      if (this.githubFailures > 0) {
        this.githubFailures--;
        return this.send(res, 503, { message: "Service Unavailable" });
      }
      return this.send(res, 200, { value: this.mintIdToken(url.searchParams.get("audience") ?? `https://github.com/acme`) });
    }

    const tenantPath = `/${this.tenantId}`;
    if (req.method === "GET" && url.pathname === `${tenantPath}/v2.0/.well-known/openid-configuration`) {
      const base = `${this.url}${tenantPath}`;
      return this.send(res, 200, {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        jwks_uri: `${base}/discovery/v2.0/keys`,
        response_modes_supported: ["query", "fragment", "form_post"],
        subject_types_supported: ["pairwise"],
        id_token_signing_alg_values_supported: ["RS256"],
        response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
        scopes_supported: ["openid", "profile", "email", "offline_access"],
        issuer: `${base}/v2.0`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        tenant_region_scope: "EU",
        cloud_instance_name: "microsoftonline.com",
      });
    }

    if (req.method === "POST" && url.pathname === `${tenantPath}/oauth2/v2.0/token`) {
      const form = new URLSearchParams(body);
      const clientId = form.get("client_id") ?? "";
      const scope = form.get("scope") ?? "";
      const record = (outcome: string, claims?: Record<string, unknown>) =>
        this.exchanges.push({ at: Date.now(), clientId, scope, assertionJti: claims?.jti as string | undefined, assertionExp: claims?.exp as number | undefined, outcome });
      if (form.get("grant_type") !== "client_credentials" || form.get("client_assertion_type") !== "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
        record("900144");
        return this.entraError(res, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_assertion_type'.");
      }
      let claims: Record<string, unknown>;
      try {
        claims = decodeJwt(form.get("client_assertion") ?? "");
      } catch {
        record("50027");
        return this.entraError(res, 400, "invalid_request", 50027, "JWT token is invalid or malformed.");
      }
      const now = Math.floor(Date.now() / 1000);
      if (!this.issued.some((t) => t.jti === claims.jti)) {
        record("700027", claims);
        return this.entraError(res, 401, "invalid_client", 700027, "Client assertion failed signature validation.");
      }
      if (typeof claims.exp !== "number" || claims.exp <= now) {
        record("700024", claims);
        return this.entraError(res, 400, "invalid_client", 700024, "Client assertion is not within its valid time range.");
      }
      const match = this.federated.find(
        (f) => f.clientId === clientId && f.subject === claims.sub && (f.issuer ?? GITHUB_ISSUER) === claims.iss && (f.audience ?? EXCHANGE_AUDIENCE) === claims.aud,
      );
      if (!match) {
        record("70021", claims);
        return this.entraError(
          res,
          400,
          "invalid_request",
          70021,
          `No matching federated identity record found for presented assertion. Assertion Issuer: '${String(claims.iss)}'. Assertion Subject: '${String(claims.sub)}'. Assertion Audience: '${String(claims.aud)}'.`,
        );
      }
      if (!scope.endsWith("/.default")) {
        record("1002012", claims);
        return this.entraError(res, 400, "invalid_scope", 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.`);
      }
      record("ok", claims);
      const resource = scopeToResource(scope.split(" ").find((s) => s.endsWith("/.default")) ?? scope);
      return this.send(res, 200, {
        token_type: "Bearer",
        expires_in: this.accessTokenSeconds,
        ext_expires_in: this.accessTokenSeconds,
        access_token: makeJwt(resource, this.accessTokenSeconds, { appid: clientId, azp: clientId, tid: this.tenantId }),
      });
    }

    this.send(res, 404, { error: "not_found", error_description: `fake OIDC: no route ${req.method} ${url.pathname}` });
  }
}
