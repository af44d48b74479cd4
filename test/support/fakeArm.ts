/**
 * A small fake of Azure Resource Manager for the stack's dynamic providers: HTTPS on 127.0.0.1 (the test
 * certificate of test/run-all.sh), every request recorded (method, path, api-version, the bearer token's
 * audience, headers, JSON body), a 401 for a token not meant for ARM, and the answer left to a handler that
 * speaks the documented shapes of the resource it fakes.
 *
 * `FakeWorkspace` is such a handler with state: one Azure ML workspace's datastores, batch endpoints, batch
 * deployments and asset versions, in the 2025-12-01 shapes (spec examples Workspace/BatchEndpoint/*,
 * Workspace/BatchDeployment/*, Workspace/{Model,Code,Environment,Component}Version/*, Datastore/get.json) and
 * ARM's generic contract for concurrency (an `ETag` header on GET and PUT answers; `If-Match` on PUT compared with
 * it, 412 PreconditionFailed when it no longer matches). Where the service's rule is not documented the fake takes
 * the stricter reading and says so: a default must name an existing deployment, the default deployment cannot be
 * deleted, and an endpoint PUT without `defaults` leaves it without a default.
 */
import * as https from "https";
import type { AddressInfo } from "net";
import { testTls } from "./tls";
import { decodeJwt } from "./tokens";

export const ARM_AUDIENCE = "https://management.azure.com";

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly apiVersion: string | null;
  /** The query's parameters other than api-version. */
  readonly query: Readonly<Record<string, string>>;
  readonly audience: unknown;
  /** Request headers, lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: any;
}

export interface FakeAnswer {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export type ArmHandler = (req: SeenRequest) => FakeAnswer;

/** ARM's error body: `{"error": {"code", "message"}}`. */
export function armError(status: number, code: string, message: string): FakeAnswer {
  return { status, body: { error: { code, message } } };
}

export class FakeArm {
  readonly seen: SeenRequest[] = [];
  url = "";
  private server?: https.Server;

  constructor(private readonly handler: ArmHandler) {}

  async start(): Promise<void> {
    const tls = testTls();
    this.server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      let text = "";
      req.on("data", (d) => (text += d));
      req.on("end", () => {
        const url = new URL(req.url!, "https://x");
        const auth = req.headers.authorization ?? "";
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(", ") : String(v)]));
        const seen: SeenRequest = {
          method: req.method!,
          path: url.pathname,
          apiVersion: url.searchParams.get("api-version"),
          query: Object.fromEntries([...url.searchParams].filter(([k]) => k !== "api-version")),
          audience: auth.startsWith("Bearer ") ? decodeJwt(auth.slice(7)).aud : undefined,
          headers,
          body: text ? JSON.parse(text) : undefined,
        };
        this.seen.push(seen);
        const answer = seen.audience === ARM_AUDIENCE ? this.handler(seen) : armError(401, "InvalidAuthenticationToken", "wrong audience");
        res.writeHead(answer.status, { ...(answer.body === undefined ? {} : { "content-type": "application/json" }), ...(answer.headers ?? {}) });
        res.end(answer.body === undefined ? undefined : JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", () => r()));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

// ---- a stateful workspace ----------------------------------------------------------------------------------

export interface WorkspaceCoordinates {
  readonly subscriptionId: string;
  readonly resourceGroupName: string;
  readonly workspaceName: string;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v));

interface Stored {
  body: any;
  etag: number;
}

export class FakeWorkspace {
  readonly base: string;
  readonly endpoints = new Map<string, Stored>();
  /** endpoint → deployment → body */
  readonly deployments = new Map<string, Map<string, any>>();
  /** `${kind}/${name}/versions/${version}` → properties as the service holds them */
  readonly versions = new Map<string, Record<string, unknown>>();
  readonly datastores = new Map<string, { accountName: string; containerName: string; endpoint?: string }>();
  /** Answer every request with this (a failing service). */
  failure?: FakeAnswer;
  /** Called before a PUT is applied: may change state (a racing writer) or answer instead (return an answer). */
  beforePut?: (req: SeenRequest) => FakeAnswer | void;
  /** Answer endpoint PUTs 201 + Azure-AsyncOperation, the operation reporting InProgress once, then Succeeded. */
  asyncEndpointPuts = false;
  private readonly operations = new Map<string, number>();
  private etagCounter = 0;
  private readonly arm: FakeArm;

  constructor(readonly ws: WorkspaceCoordinates) {
    this.base = `/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroupName}/providers/Microsoft.MachineLearningServices/workspaces/${ws.workspaceName}`;
    this.arm = new FakeArm((req) => this.handle(req));
  }

  get seen(): SeenRequest[] {
    return this.arm.seen;
  }
  get url(): string {
    return this.arm.url;
  }
  start = () => this.arm.start();
  stop = () => this.arm.stop();

  reset(): void {
    this.arm.seen.length = 0;
    this.endpoints.clear();
    this.deployments.clear();
    this.versions.clear();
    this.failure = undefined;
    this.beforePut = undefined;
    this.asyncEndpointPuts = false;
  }

  // -- seeding and changes made behind the stack's back (Studio, another person) --

  seedEndpoint(name: string, deployments: string[] = [], defaultName?: string, extra: { tags?: Record<string, string> } = {}): void {
    this.store(name, {
      id: `${this.base}/batchEndpoints/${name}`,
      name,
      type: "Microsoft.MachineLearningServices/workspaces/batchEndpoints",
      location: "westeurope",
      kind: "string",
      tags: extra.tags ?? { team: "ml" },
      identity: { type: "SystemAssigned", principalId: "00000000-1111-2222-3333-444444444444", tenantId: "00000000-1111-2222-3333-444444444444" },
      properties: {
        authMode: "AADToken",
        description: "d",
        properties: { "ComponentDeployment.Enabled": "true" },
        defaults: defaultName ? { deploymentName: defaultName } : {},
        provisioningState: "Succeeded",
        scoringUri: `https://${name}.westeurope.inference.ml.azure.com/jobs`,
        swaggerUri: `https://${name}.westeurope.inference.ml.azure.com/swagger.json`,
      },
      systemData: { createdAt: "2026-01-01T00:00:00Z", createdBy: "someone", createdByType: "User" },
    });
    this.deployments.set(name, new Map(deployments.map((d) => [d, this.deploymentBody(name, d, {})])));
  }

  /** The endpoint's current default deployment ("" when none). */
  defaultOf(endpoint: string): string {
    return this.endpoints.get(endpoint)?.body.properties?.defaults?.deploymentName ?? "";
  }
  endpointBody(endpoint: string): any {
    return this.endpoints.get(endpoint)?.body;
  }
  /** Someone sets the default in Studio (a write: the ETag changes). */
  setDefaultByHand(endpoint: string, deploymentName: string | undefined): void {
    const e = this.endpoints.get(endpoint)!;
    this.store(endpoint, { ...e.body, properties: { ...e.body.properties, defaults: deploymentName ? { deploymentName } : {} } });
  }
  deploymentNames(endpoint: string): string[] {
    return [...(this.deployments.get(endpoint)?.keys() ?? [])].sort();
  }
  version(kind: string, name: string, version: string): Record<string, unknown> | undefined {
    return this.versions.get(`${kind}/${name}/versions/${version}`);
  }
  seedVersion(kind: string, name: string, version: string, properties: Record<string, unknown>): void {
    this.versions.set(`${kind}/${name}/versions/${version}`, clone(properties));
  }
  deleteVersionByHand(kind: string, name: string, version: string): void {
    this.versions.delete(`${kind}/${name}/versions/${version}`);
  }
  seedDatastore(name: string, accountName: string, containerName: string): void {
    this.datastores.set(name, { accountName, containerName, endpoint: "core.windows.net" });
  }

  private store(name: string, body: any): Stored {
    const s = { body: clone(body), etag: ++this.etagCounter };
    this.endpoints.set(name, s);
    return s;
  }
  private etagHeader(s: Stored): Record<string, string> {
    return { etag: `"${s.etag}"` };
  }
  private deploymentBody(endpoint: string, name: string, body: any): any {
    return {
      ...clone(body),
      id: `${this.base}/batchEndpoints/${endpoint}/deployments/${name}`,
      name,
      type: "Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments",
      properties: { ...(body.properties ?? {}), provisioningState: "Succeeded" },
    };
  }

  // -- the HTTP side --

  private handle(req: SeenRequest): FakeAnswer {
    if (this.failure) return this.failure;
    const { method, path } = req;
    if (path.startsWith(`${this.base}/operations/`)) return this.operation(path);
    if (!path.startsWith(`${this.base}/`)) return armError(404, "ResourceNotFound", path);
    const rest = path.slice(this.base.length + 1).split("/");
    if (method === "PUT" && this.beforePut) {
      const answer = this.beforePut(req);
      if (answer) return answer;
    }
    if (rest[0] === "datastores" && rest.length === 2) return this.datastore(method, rest[1]);
    if (rest[0] === "batchEndpoints" && rest.length === 1 && method === "GET") {
      return this.page(req, [...this.endpoints.values()].map((e) => e.body), `${this.base}/batchEndpoints`);
    }
    if (rest[0] === "batchEndpoints" && rest.length === 3 && rest[2] === "deployments" && method === "GET") {
      const all = this.deployments.get(rest[1]);
      return all ? this.page(req, [...all.values()], `${this.base}/batchEndpoints/${rest[1]}/deployments`) : armError(404, "ResourceNotFound", rest[1]);
    }
    if (rest[0] === "batchEndpoints" && rest.length === 2) return this.endpoint(req, rest[1]);
    if (rest[0] === "batchEndpoints" && rest.length === 4 && rest[2] === "deployments") return this.deployment(req, rest[1], rest[3]);
    if (["models", "codes", "environments", "components"].includes(rest[0]) && rest.length === 4 && rest[2] === "versions") {
      return this.assetVersion(req, `${rest[0]}/${rest[1]}/versions/${rest[3]}`, rest[1], rest[3]);
    }
    return armError(404, "ResourceNotFound", path);
  }

  /** A list answer, two items a page, `nextLink` to the rest (ARM's paging: `{value, nextLink}`). */
  private page(req: SeenRequest, items: any[], path: string): FakeAnswer {
    const skip = Number(req.query.$skip ?? 0);
    const value = items.slice(skip, skip + 2);
    const more = skip + 2 < items.length;
    return { status: 200, body: { value, ...(more ? { nextLink: `${this.url}${path}?api-version=2025-12-01&$skip=${skip + 2}` } : {}) } };
  }

  private operation(path: string): FakeAnswer {
    const seen = (this.operations.get(path) ?? 0) + 1;
    this.operations.set(path, seen);
    return { status: 200, body: seen === 1 ? { status: "InProgress" } : { status: "Succeeded" }, headers: { "retry-after": "0" } };
  }

  private datastore(method: string, name: string): FakeAnswer {
    const d = this.datastores.get(name);
    if (method !== "GET") return armError(405, "MethodNotAllowed", method);
    if (!d) return armError(404, "UserError", `datastore ${name} not found`);
    return {
      status: 200,
      body: {
        id: `${this.base}/datastores/${name}`,
        name,
        type: "Microsoft.MachineLearningServices/workspaces/datastores",
        properties: { datastoreType: "AzureBlob", accountName: d.accountName, containerName: d.containerName, endpoint: d.endpoint, protocol: "https", credentials: { credentialsType: "None" }, isDefault: true },
      },
    };
  }

  private endpoint(req: SeenRequest, name: string): FakeAnswer {
    const current = this.endpoints.get(name);
    if (req.method === "GET") {
      return current ? { status: 200, body: current.body, headers: this.etagHeader(current) } : armError(404, "ResourceNotFound", `batch endpoint ${name} not found`);
    }
    if (req.method === "PUT") {
      const ifMatch = req.headers["if-match"];
      if (ifMatch !== undefined && (!current || ifMatch !== `"${current.etag}"`)) {
        return armError(412, "PreconditionFailed", "The ETag in If-Match does not match the resource's current ETag.");
      }
      const body = req.body ?? {};
      const d = body.properties?.defaults?.deploymentName;
      if (d && !this.deployments.get(name)?.has(d)) return armError(400, "BadRequest", `deployment ${d} does not exist on endpoint ${name}`);
      const previous = current?.body;
      const next = {
        ...body,
        id: `${this.base}/batchEndpoints/${name}`,
        name,
        type: "Microsoft.MachineLearningServices/workspaces/batchEndpoints",
        properties: {
          ...(body.properties ?? {}),
          // A full PUT replaces the resource: no `defaults` in the body, no default [unconfirmed: the service's rule].
          defaults: body.properties?.defaults ?? {},
          provisioningState: "Succeeded",
          scoringUri: previous?.properties?.scoringUri ?? `https://${name}.westeurope.inference.ml.azure.com/jobs`,
          swaggerUri: previous?.properties?.swaggerUri,
        },
        systemData: previous?.systemData ?? { createdAt: "2026-01-01T00:00:00Z", createdBy: "pulumi", createdByType: "Application" },
      };
      const stored = this.store(name, next);
      if (!this.deployments.has(name)) this.deployments.set(name, new Map());
      if (this.asyncEndpointPuts) {
        const op = `${this.url}${this.base}/operations/${stored.etag}`;
        return { status: 201, body: { ...next, properties: { ...next.properties, provisioningState: "Updating" } }, headers: { ...this.etagHeader(stored), "azure-asyncoperation": op, "retry-after": "0" } };
      }
      return { status: current ? 200 : 201, body: next, headers: this.etagHeader(stored) };
    }
    if (req.method === "DELETE") {
      if (!current) return { status: 204 };
      this.endpoints.delete(name);
      this.deployments.delete(name);
      return { status: 200 };
    }
    return armError(405, "MethodNotAllowed", req.method);
  }

  private deployment(req: SeenRequest, endpoint: string, name: string): FakeAnswer {
    const all = this.deployments.get(endpoint);
    if (!this.endpoints.has(endpoint) || !all) return armError(404, "ResourceNotFound", `batch endpoint ${endpoint} not found`);
    if (req.method === "GET") return all.has(name) ? { status: 200, body: all.get(name) } : armError(404, "ResourceNotFound", `deployment ${name} not found`);
    if (req.method === "PUT") {
      const existed = all.has(name);
      all.set(name, this.deploymentBody(endpoint, name, req.body ?? {}));
      return { status: existed ? 200 : 201, body: all.get(name) };
    }
    if (req.method === "DELETE") {
      if (!all.has(name)) return { status: 204 };
      // [unconfirmed: the service's rule] the fake refuses to delete the endpoint's default deployment.
      if (this.defaultOf(endpoint) === name) return armError(400, "BadRequest", `deployment ${name} is the default deployment of endpoint ${endpoint}`);
      all.delete(name);
      return { status: 200 };
    }
    return armError(405, "MethodNotAllowed", req.method);
  }

  private assetVersion(req: SeenRequest, key: string, name: string, version: string): FakeAnswer {
    const current = this.versions.get(key);
    const resource = (properties: Record<string, unknown>) => ({
      id: `${this.base}/${key}`,
      name: version,
      type: `Microsoft.MachineLearningServices/workspaces/${key.split("/")[0]}/versions`,
      properties: { ...properties, provisioningState: "Succeeded" },
      systemData: { createdBy: "someone", createdAt: "2026-01-01T00:00:00Z" },
    });
    if (req.method === "GET") return current ? { status: 200, body: resource(current) } : armError(404, "UserError", `${name}:${version} not found`);
    if (req.method === "PUT") {
      const properties = req.body?.properties ?? {};
      if (current) {
        // Versions are immutable: the paths cannot change (the service: "Asset paths cannot be updated").
        for (const k of ["modelUri", "codeUri", "image"]) {
          if (k in current && current[k] !== properties[k]) return armError(400, "UserError", "Asset paths cannot be updated.");
        }
        this.versions.set(key, { ...current, ...clone(properties) });
        return { status: 200, body: resource(this.versions.get(key)!) };
      }
      this.versions.set(key, clone(properties));
      return { status: 201, body: resource(properties) };
    }
    if (req.method === "DELETE") {
      if (!current) return { status: 204 };
      this.versions.delete(key);
      return { status: 200 };
    }
    return armError(405, "MethodNotAllowed", req.method);
  }
}
