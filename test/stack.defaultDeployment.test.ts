/**
 * The default-deployment pointer's provider, against the fake workspace's batch endpoints (GET/PUT of
 * workspaces/{ws}/batchEndpoints/{name} in the documented shapes, with ARM's ETag / If-Match / 412) reached
 * through the real ARM client (lib/armClient.ts): what it sends, that it sets, switches and releases the default,
 * that it never clears a default it no longer owns, and what refresh sees.
 */
import assert from "assert";
import { armError, FakeWorkspace } from "./support/fakeArm";
import { TestTokenCredential } from "./support/tokens";
import { createArmClient } from "../lib/armClient";
import {
  armEndpointApi,
  checkDefaultDeployment,
  DefaultDeploymentInputs,
  diffDefaultDeployment,
  makeDefaultDeploymentProvider,
  MAX_WRITE_ATTEMPTS,
  OWNER_TAG,
  withDefault,
} from "../infra/defaultDeployment";

const ws = { subscriptionId: "11111111-2222-3333-4444-555555555555", resourceGroupName: "rg-heart", workspaceName: "mlw-heart" };

describe("stack: default deployment pointer", function () {
  const fake = new FakeWorkspace(ws);
  let provider: ReturnType<typeof makeDefaultDeploymentProvider>;
  let owners = 0;
  const inputs = (over: Partial<DefaultDeploymentInputs> = {}): DefaultDeploymentInputs => ({
    ...ws,
    endpointName: "heart-ep",
    deploymentName: "blue",
    endpointRevision: "r1",
    ...over,
  });
  const epPath = `${fake.base}/batchEndpoints/heart-ep`;

  before(async () => {
    await fake.start();
    provider = makeDefaultDeploymentProvider({
      endpoints: (w) => armEndpointApi(createArmClient(new TestTokenCredential(), w, { endpoint: fake.url, maxRetries: 0 })),
      newOwner: () => `owner-${++owners}`,
    });
  });
  after(() => fake.stop());
  beforeEach(() => fake.reset());

  it("diff: a new deployment name or endpoint revision updates; another endpoint replaces, new before old", () => {
    const a = inputs();
    assert.deepStrictEqual(diffDefaultDeployment(a, a), { changes: false, replaces: [], deleteBeforeReplace: false });
    assert.deepStrictEqual(diffDefaultDeployment(a, { ...a, deploymentName: "green" }), { changes: true, replaces: [], deleteBeforeReplace: false });
    assert.deepStrictEqual(diffDefaultDeployment(a, { ...a, endpointRevision: "r2" }).changes, true);
    assert.deepStrictEqual(diffDefaultDeployment(a, { ...a, endpointName: "other" }).replaces, ["endpointName"]);
  });

  it("check names an empty or missing name", async () => {
    assert.deepStrictEqual(checkDefaultDeployment({ ...inputs() }), []);
    assert.deepStrictEqual(
      checkDefaultDeployment({ ...inputs(), deploymentName: " ", endpointName: undefined }).map((f) => f.property).sort(),
      ["deploymentName", "endpointName"],
    );
    assert.deepStrictEqual(await provider.check!({}, inputs()), { inputs: inputs() });
    assert.match((await provider.check!({}, { ...inputs(), deploymentName: "" })).failures![0].reason, /deploymentName must be a non-empty string/);
  });

  it("create GETs the endpoint and PUTs back the very body it got, If-Match its ETag, with only the default and owner tag changed", async () => {
    fake.seedEndpoint("heart-ep", ["blue", "green"]);
    // A field no SDK model knows must survive the round trip.
    fake.endpointBody("heart-ep").properties.futureField = { kept: true };
    const before = JSON.parse(JSON.stringify(fake.endpointBody("heart-ep")));
    const r = await provider.create(inputs());
    assert.deepStrictEqual(r, { id: "heart-ep/defaults", outs: { ...inputs(), owner: "owner-1" } });
    assert.deepStrictEqual(fake.seen.map((s) => [s.method, s.path, s.apiVersion, s.audience]), [
      ["GET", epPath, "2025-12-01", "https://management.azure.com"],
      ["PUT", epPath, "2025-12-01", "https://management.azure.com"],
    ]);
    const getEtag = `"${1}"`;
    assert.strictEqual(fake.seen[1].headers["if-match"], getEtag, "If-Match carries the ETag the GET answered");
    const expected = { ...before, tags: { ...before.tags, [OWNER_TAG]: "owner-1" }, properties: { ...before.properties, defaults: { deploymentName: "blue" } } };
    assert.deepStrictEqual(fake.seen[1].body, expected, "the GET's body, field for field, with only defaults and the owner tag changed");
    assert.strictEqual(fake.defaultOf("heart-ep"), "blue");
  });

  it("update with the same owner and the default already right sends nothing but the GET", async () => {
    fake.seedEndpoint("heart-ep", ["blue"], "blue", { tags: { [OWNER_TAG]: "owner-x" } });
    await provider.update!("heart-ep/defaults", { ...inputs(), owner: "owner-x" }, inputs({ endpointRevision: "r2" }));
    assert.deepStrictEqual(fake.seen.map((s) => s.method), ["GET"]);
  });

  it("update switches the default to another deployment and keeps its owner token", async () => {
    fake.seedEndpoint("heart-ep", ["blue", "green"], "blue", { tags: { [OWNER_TAG]: "owner-x" } });
    const r = await provider.update!("heart-ep/defaults", { ...inputs(), owner: "owner-x" }, inputs({ deploymentName: "green" }));
    assert.deepStrictEqual(r.outs, { ...inputs({ deploymentName: "green" }), owner: "owner-x" });
    assert.strictEqual(fake.defaultOf("heart-ep"), "green");
  });

  it("a write in between (412) is read again and retried, keeping what the other writer changed", async () => {
    fake.seedEndpoint("heart-ep", ["blue"]);
    let raced = false;
    fake.beforePut = () => {
      if (raced) return;
      raced = true;
      const e = fake.endpointBody("heart-ep");
      fake.seedEndpoint("heart-ep", ["blue"], undefined, { tags: { ...e.tags, addedByOther: "yes" } });
    };
    await provider.create(inputs());
    assert.deepStrictEqual(fake.seen.map((s) => s.method), ["GET", "PUT", "GET", "PUT"]);
    assert.notStrictEqual(fake.seen[1].headers["if-match"], fake.seen[3].headers["if-match"]);
    assert.strictEqual(fake.defaultOf("heart-ep"), "blue");
    assert.strictEqual(fake.endpointBody("heart-ep").tags.addedByOther, "yes", "the other writer's change survives");
  });

  it("gives up with a clear message after a bounded number of 412s", async () => {
    fake.seedEndpoint("heart-ep", ["blue"]);
    fake.beforePut = () => armError(412, "PreconditionFailed", "etag mismatch");
    await assert.rejects(provider.create(inputs()), /batch endpoint heart-ep in workspace mlw-heart kept changing .*\(5 attempts answered 412 Precondition Failed\)/);
    assert.strictEqual(fake.seen.filter((s) => s.method === "PUT").length, MAX_WRITE_ATTEMPTS);
  });

  it("follows a PUT answered 201 with Azure-AsyncOperation until the operation succeeds", async () => {
    fake.seedEndpoint("heart-ep", ["blue"]);
    fake.asyncEndpointPuts = true;
    await provider.create(inputs());
    const ops = fake.seen.filter((s) => s.path.includes("/operations/"));
    assert.strictEqual(ops.length, 2, "InProgress, then Succeeded");
    assert.ok(ops.every((s) => s.method === "GET" && s.audience === "https://management.azure.com"));
  });

  it("delete releases the default it set (If-Match), so the deployment can then be deleted", async () => {
    fake.seedEndpoint("heart-ep", ["blue"], "blue", { tags: { team: "ml", [OWNER_TAG]: "owner-x" } });
    await provider.delete!("heart-ep/defaults", { ...inputs(), owner: "owner-x" });
    assert.deepStrictEqual(fake.seen.map((s) => s.method), ["GET", "PUT"]);
    assert.ok(fake.seen[1].headers["if-match"]);
    assert.deepStrictEqual(fake.seen[1].body.properties.defaults, {});
    assert.deepStrictEqual(fake.seen[1].body.tags, { team: "ml" }, "the owner tag goes with it");
    assert.strictEqual(fake.defaultOf("heart-ep"), "");
  });

  it("delete leaves a default someone else set, one a newer pointer owns, and tolerates a deleted endpoint", async () => {
    fake.seedEndpoint("heart-ep", ["blue", "green"], "green");
    await provider.delete!("heart-ep/defaults", { ...inputs(), owner: "owner-x" });
    assert.deepStrictEqual(fake.seen.map((s) => s.method), ["GET"]);
    assert.strictEqual(fake.defaultOf("heart-ep"), "green");
    fake.seedEndpoint("heart-ep", ["blue"], "blue", { tags: { [OWNER_TAG]: "owner-newer" } });
    await provider.delete!("heart-ep/defaults", { ...inputs(), owner: "owner-x" });
    assert.strictEqual(fake.defaultOf("heart-ep"), "blue", "a newer pointer's default is not cleared");
    fake.endpoints.delete("heart-ep");
    await provider.delete!("heart-ep/defaults", { ...inputs(), owner: "owner-x" });
  });

  it("read reports the endpoint's current default (drift), and the pointer as gone with the endpoint", async () => {
    fake.seedEndpoint("heart-ep", ["blue", "green"], "blue");
    const olds = { ...inputs(), owner: "owner-x" };
    assert.deepStrictEqual(await provider.read!("heart-ep/defaults", olds), { id: "heart-ep/defaults", props: olds });
    fake.setDefaultByHand("heart-ep", "green");
    assert.deepStrictEqual(await provider.read!("heart-ep/defaults", olds), { id: "heart-ep/defaults", props: { ...olds, deploymentName: "green" } });
    fake.endpoints.delete("heart-ep");
    assert.deepStrictEqual(await provider.read!("heart-ep/defaults", olds), { id: "", props: {} });
  });

  it("create fails clearly when the endpoint does not exist, and names the status when the service refuses", async () => {
    await assert.rejects(provider.create(inputs({ endpointName: "missing-ep" })), /batch endpoint missing-ep not found in workspace mlw-heart/);
    fake.seedEndpoint("heart-ep", ["blue"]);
    fake.beforePut = () => armError(403, "AuthorizationFailed", "no write");
    await assert.rejects(provider.create(inputs()), /could not update batch endpoint heart-ep \(HTTP 403, AuthorizationFailed: no write\)\. The identity running pulumi needs write access/);
  });

  it("withDefault keeps everything but the default and the owner tag", () => {
    const e = { location: "westeurope", id: "x", tags: { a: "b" }, properties: { authMode: "AADToken", defaults: { deploymentName: "x" }, extra: 1 } };
    assert.deepStrictEqual(withDefault(e, "y", "o"), { ...e, tags: { a: "b", [OWNER_TAG]: "o" }, properties: { ...e.properties, defaults: { deploymentName: "y" } } });
    assert.deepStrictEqual(withDefault(e, undefined, undefined), { ...e, properties: { ...e.properties, defaults: {} } });
    assert.deepStrictEqual(e.properties.defaults, { deploymentName: "x" }, "the input is not changed");
  });
});
