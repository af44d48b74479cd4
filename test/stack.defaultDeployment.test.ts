/**
 * The default-deployment pointer's provider, against a small fake of the batch endpoint ARM API (GET/PUT
 * of workspaces/{ws}/batchEndpoints/{name}, the documented shapes) reached through the real ARM client
 * (lib/armClient.ts): what it sends, and that it sets, switches and releases the endpoint's default.
 */
import assert from "assert";
import { armError, FakeAnswer, FakeArm, SeenRequest } from "./support/fakeArm";
import { TestTokenCredential } from "./support/tokens";
import { createArmClient } from "../lib/armClient";
import { armEndpointApi, DefaultDeploymentInputs, diffDefaultDeployment, makeDefaultDeploymentProvider, withDefault } from "../infra/defaultDeployment";

const ws = { subscriptionId: "11111111-2222-3333-4444-555555555555", resourceGroupName: "rg-heart", workspaceName: "mlw-heart" };
const base = `/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroupName}/providers/Microsoft.MachineLearningServices/workspaces/${ws.workspaceName}/batchEndpoints/`;

/** Batch endpoints as ARM holds them; PUT replaces the resource, as ARM PUT does. */
class FakeEndpoints {
  readonly endpoints = new Map<string, any>();
  /** Deployments that exist per endpoint: a default must name one of them [the service's rule: unconfirmed]. */
  readonly deployments = new Map<string, Set<string>>();
  private readonly arm = new FakeArm((req) => this.handle(req));

  get seen(): SeenRequest[] {
    return this.arm.seen;
  }
  get url(): string {
    return this.arm.url;
  }
  start(): Promise<void> {
    return this.arm.start();
  }
  stop(): Promise<void> {
    return this.arm.stop();
  }
  seed(name: string, deployments: string[], defaultName?: string) {
    this.deployments.set(name, new Set(deployments));
    this.endpoints.set(name, {
      id: `${base}${name}`,
      name,
      type: "Microsoft.MachineLearningServices/workspaces/batchEndpoints",
      location: "westeurope",
      tags: { team: "ml" },
      identity: { type: "SystemAssigned", principalId: "p", tenantId: "t" },
      properties: {
        authMode: "AADToken",
        description: "d",
        properties: { "ComponentDeployment.Enabled": "true" },
        defaults: defaultName ? { deploymentName: defaultName } : {},
        provisioningState: "Succeeded",
        scoringUri: `https://${name}.westeurope.inference.ml.azure.com/jobs`,
      },
    });
  }

  private handle({ method, path, body }: SeenRequest): FakeAnswer {
    if (!path.startsWith(base)) return armError(404, "NotFound", path);
    const name = path.slice(base.length);
    const current = this.endpoints.get(name);
    if (method === "GET") return current ? { status: 200, body: current } : armError(404, "ResourceNotFound", `${name} not found`);
    if (method === "PUT") {
      if (!current) return armError(404, "ResourceNotFound", `${name} not found`);
      const d = body?.properties?.defaults?.deploymentName;
      if (d && !this.deployments.get(name)?.has(d)) return armError(400, "BadRequest", `deployment ${d} does not exist`);
      const next = { ...current, ...body, id: current.id, name, type: current.type, properties: { ...body.properties, provisioningState: "Succeeded", scoringUri: current.properties.scoringUri } };
      this.endpoints.set(name, next);
      return { status: 200, body: next };
    }
    return armError(405, "MethodNotAllowed", method);
  }
}

describe("stack: default deployment pointer", function () {
  const fake = new FakeEndpoints();
  let provider: ReturnType<typeof makeDefaultDeploymentProvider>;
  const inputs = (over: Partial<DefaultDeploymentInputs> = {}): DefaultDeploymentInputs => ({
    ...ws,
    endpointName: "heart-ep",
    deploymentName: "blue",
    endpointRevision: "r1",
    ...over,
  });

  before(async () => {
    await fake.start();
    provider = makeDefaultDeploymentProvider({ endpoints: (w) => armEndpointApi(createArmClient(new TestTokenCredential(), w, { endpoint: fake.url })) });
  });
  after(() => fake.stop());
  beforeEach(() => (fake.seen.length = 0));

  it("diff: a new deployment name or endpoint revision updates; another endpoint replaces", () => {
    const a = inputs();
    assert.deepStrictEqual(diffDefaultDeployment(a, a), { changes: false, replaces: [], deleteBeforeReplace: false });
    assert.deepStrictEqual(diffDefaultDeployment(a, { ...a, deploymentName: "green" }), { changes: true, replaces: [], deleteBeforeReplace: false });
    assert.deepStrictEqual(diffDefaultDeployment(a, { ...a, endpointRevision: "r2" }).changes, true);
    assert.deepStrictEqual(diffDefaultDeployment(a, { ...a, endpointName: "other" }).replaces, ["endpointName"]);
  });

  it("create reads the endpoint and puts it back with only the default changed", async () => {
    fake.seed("heart-ep", ["blue", "green"]);
    const r = await provider.create(inputs());
    assert.strictEqual(r.id, "heart-ep/defaults");
    assert.deepStrictEqual(fake.seen.map((s) => [s.method, s.apiVersion, s.audience]), [
      ["GET", "2025-12-01", "https://management.azure.com"],
      ["PUT", "2025-12-01", "https://management.azure.com"],
    ]);
    const put = fake.seen[1].body;
    assert.deepStrictEqual(put.properties.defaults, { deploymentName: "blue" });
    assert.strictEqual(put.properties.authMode, "AADToken");
    assert.deepStrictEqual(put.properties.properties, { "ComponentDeployment.Enabled": "true" });
    assert.strictEqual(put.location, "westeurope");
    assert.deepStrictEqual(put.tags, { team: "ml" });
    assert.strictEqual(put.identity.type, "SystemAssigned");
    assert.strictEqual(put.properties.scoringUri, undefined, "read-only fields are not sent");
    assert.strictEqual(fake.endpoints.get("heart-ep").properties.defaults.deploymentName, "blue");
  });

  it("does not PUT when the default is already right (a re-run changes nothing)", async () => {
    fake.seed("heart-ep", ["blue"], "blue");
    await provider.create(inputs());
    assert.deepStrictEqual(fake.seen.map((s) => s.method), ["GET"]);
  });

  it("update switches the default to another deployment", async () => {
    fake.seed("heart-ep", ["blue", "green"], "blue");
    await provider.update!("heart-ep/defaults", inputs(), inputs({ deploymentName: "green" }));
    assert.strictEqual(fake.endpoints.get("heart-ep").properties.defaults.deploymentName, "green");
  });

  it("delete releases the default it set, so the deployment can then be deleted", async () => {
    fake.seed("heart-ep", ["blue"], "blue");
    await provider.delete!("heart-ep/defaults", inputs());
    assert.deepStrictEqual(fake.seen.map((s) => s.method), ["GET", "PUT"]);
    assert.deepStrictEqual(fake.seen[1].body.properties.defaults, {});
    assert.strictEqual(fake.endpoints.get("heart-ep").properties.defaults.deploymentName, undefined);
  });

  it("delete leaves a default someone else set, and tolerates a deleted endpoint", async () => {
    fake.seed("heart-ep", ["blue", "green"], "green");
    await provider.delete!("heart-ep/defaults", inputs());
    assert.deepStrictEqual(fake.seen.map((s) => s.method), ["GET"]);
    assert.strictEqual(fake.endpoints.get("heart-ep").properties.defaults.deploymentName, "green");
    fake.endpoints.delete("heart-ep");
    await provider.delete!("heart-ep/defaults", inputs());
  });

  it("create fails clearly when the endpoint does not exist", async () => {
    await assert.rejects(provider.create(inputs({ endpointName: "missing-ep" })), /batch endpoint missing-ep not found in workspace mlw-heart/);
  });

  it("withDefault keeps everything but defaults", () => {
    const e = { location: "westeurope", tags: { a: "b" }, properties: { authMode: "AADToken", defaults: { deploymentName: "x" } } };
    assert.deepStrictEqual(withDefault(e as any, "y"), { location: "westeurope", tags: { a: "b" }, properties: { authMode: "AADToken", defaults: { deploymentName: "y" } } });
    assert.deepStrictEqual(withDefault(e as any, undefined).properties, { authMode: "AADToken", defaults: {} });
  });
});
