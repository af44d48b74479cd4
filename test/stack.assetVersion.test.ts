/**
 * Idempotent registration of asset versions (lib/assetVersions.ts through the WorkspaceAssetVersion provider
 * of infra/assetVersion.ts), against a fake of the ARM asset-version API
 * (GET/PUT/DELETE …/workspaces/{ws}/{models|codes|environments|components}/{name}/versions/{version}) reached
 * through the real ARM client (lib/armClient.ts): what is sent, when a version is created, adopted or refused,
 * and when it is deleted.
 */
import assert from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { makeFakeAzCli, FakeAzCli } from "./support/fakeAzCli";
import { findAll, PROJECT_ROOT, rawConfig, runProgram, stackProgram } from "./support/pulumiMocks";
import { armError, FakeWorkspace } from "./support/fakeArm";
import { TestTokenCredential } from "./support/tokens";
import { createArmClient } from "../lib/armClient";
import { armAssetApi, armUsageApi, AssetRef, contentDifferences, ensureAssetVersion, versionsInUse } from "../lib/assetVersions";
import { AssetVersionInputs, AssetVersionOutputs, diffAssetVersion, makeAssetVersionProvider, startOfRun } from "../infra/assetVersion";
import { assetVersionId } from "../lib/naming";

const execFileP = promisify(execFile);
const ws = { subscriptionId: "11111111-2222-3333-4444-555555555555", resourceGroupName: "rg-heart", workspaceName: "mlw-heart" };
const wsPath = `/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroupName}/providers/Microsoft.MachineLearningServices/workspaces/${ws.workspaceName}`;
const MODEL_URI = `azureml://subscriptions/${ws.subscriptionId}/resourcegroups/${ws.resourceGroupName}/workspaces/${ws.workspaceName}/datastores/workspaceblobstore/paths/LocalUpload/abc/heart-classifier`;
const CONDA = "name: heart\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - pip:\n      - xgboost==1.7.4\n";

/** The fake workspace, with the test's old vocabulary: seed a version, or let a racer register one first. */
class FakeAssets extends FakeWorkspace {
  constructor() {
    super(ws);
  }
  seed(kind: string, name: string, version: string, properties: Record<string, unknown>) {
    this.seedVersion(kind, name, version, properties);
  }
  /** On the next PUT, someone else registers `properties` first and the service answers `status` (409, or 200 accepting ours). */
  race(properties: Record<string, unknown>, status: 409 | 200) {
    this.beforePut = (req) => {
      this.beforePut = undefined;
      const m = /\/(models|codes|environments|components)\/([^/]+)\/versions\/([^/]+)$/.exec(req.path)!;
      this.seedVersion(m[1], m[2], m[3], properties);
      return status === 409 ? armError(409, "Conflict", "version already exists") : undefined;
    };
  }
}

const modelProps = { modelType: "mlflow_model", modelUri: MODEL_URI, isAnonymous: false, isArchived: false };
const modelInputs = (over: Partial<AssetVersionInputs> = {}): AssetVersionInputs => ({
  ...ws,
  assetKind: "models",
  name: "heart-classifier",
  version: "42",
  properties: modelProps,
  retainOnDestroy: false,
  ...over,
});
const modelId = assetVersionId(ws, "models", "heart-classifier", "42");

describe("stack: asset versions (registration against a fake ARM)", function () {
  const fake = new FakeAssets();
  const client = (maxRetries = 0) => (w: typeof ws) => armAssetApi(createArmClient(new TestTokenCredential(), w, { endpoint: fake.url, maxRetries }));
  let provider: ReturnType<typeof makeAssetVersionProvider>;

  before(async () => {
    await fake.start();
    provider = makeAssetVersionProvider({ assets: client() });
  });
  after(() => fake.stop());
  beforeEach(() => {
    fake.reset();
    startOfRun();
  });

  it("registers an absent version: GET, then PUT of exactly the body, with ARM's api-version and token audience", async () => {
    const r = await provider.create(modelInputs());
    assert.strictEqual(r.id, modelId);
    assert.deepStrictEqual(r.outs, { ...modelInputs(), armId: modelId, created: true });
    assert.deepStrictEqual(
      fake.seen.map((s) => [s.method, s.path, s.apiVersion, s.audience]),
      [
        ["GET", modelId, "2025-12-01", "https://management.azure.com"],
        ["PUT", modelId, "2025-12-01", "https://management.azure.com"],
      ],
    );
    assert.deepStrictEqual(fake.seen[1].body, { properties: modelProps }, "the body goes out as built, nothing dropped or added");
  });

  it("sends each kind to its own collection, the body untouched (component spec and conda file included)", async () => {
    const spec = { name: "prepare", version: "abc", type: "command", command: "python prepare.py", unknown_to_sdk_2022: { x: true } };
    const cases: [AssetVersionInputs["assetKind"], string, Record<string, unknown>][] = [
      ["codes", "prepare-code", { codeUri: "https://acct.blob.core.windows.net/c/LocalUpload/h/src", isAnonymous: false, isArchived: false }],
      ["environments", "uci-heart-scoring", { image: "mcr.microsoft.com/azureml/x:latest", condaFile: CONDA, osType: "Linux", autoRebuild: "Disabled", isAnonymous: false, isArchived: false }],
      ["components", "prepare", { componentSpec: spec, description: "d", isAnonymous: false, isArchived: false }],
    ];
    for (const [kind, name, properties] of cases) {
      fake.reset();
      const r = await provider.create({ ...modelInputs(), assetKind: kind, name, version: "abc", properties });
      assert.strictEqual(r.id, `${wsPath}/${kind}/${name}/versions/abc`);
      assert.deepStrictEqual(fake.seen.map((s) => [s.method, s.path]), [["GET", r.id], ["PUT", r.id]]);
      assert.deepStrictEqual(fake.seen[1].body, { properties });
    }
  });

  it("adopts an existing version with the same content: no PUT, created false", async () => {
    // As the service answers: our fields (modelType in the spec's spelling), plus flavors and state of its own.
    fake.seed("models", "heart-classifier", "42", { ...modelProps, modelType: "MLFlow_Model", modelUri: `${MODEL_URI}/`, flavors: { python_function: {} } });
    const r = await provider.create(modelInputs());
    assert.deepStrictEqual(fake.seen.map((s) => s.method), ["GET"]);
    assert.deepStrictEqual({ id: r.id, created: r.outs.created, armId: r.outs.armId }, { id: modelId, created: false, armId: modelId });
  });

  it("adopts environments whose conda file came back reformatted, and components whatever spec came back", async () => {
    const env = { image: "mcr.microsoft.com/azureml/x:latest", condaFile: CONDA, osType: "Linux" };
    fake.seed("environments", "uci-heart-scoring", "e1", { ...env, condaFile: "name: heart\nchannels: [conda-forge]\ndependencies: [python=3.11, {pip: [xgboost==1.7.4]}]\n" });
    fake.seed("components", "uci_heart_classifier_scorer", "p1", { componentSpec: { name: "uci_heart_classifier_scorer", is_deterministic: "False" } });
    const e = await provider.create({ ...modelInputs(), assetKind: "environments", name: "uci-heart-scoring", version: "e1", properties: env });
    const p = await provider.create({ ...modelInputs(), assetKind: "components", name: "uci_heart_classifier_scorer", version: "p1", properties: { componentSpec: { jobs: {} } } });
    assert.deepStrictEqual([e.outs.created, p.outs.created], [false, false]);
    assert.deepStrictEqual(fake.seen.map((s) => s.method), ["GET", "GET"]);
  });

  it("refuses an existing version with other content, naming the version and both values, and sends nothing", async () => {
    const other = MODEL_URI.replace("LocalUpload/abc", "LocalUpload/zzz");
    fake.seed("models", "heart-classifier", "42", { modelType: "custom_model", modelUri: other });
    await assert.rejects(provider.create(modelInputs()), (e: Error) => {
      assert.strictEqual(e.name, "AssetVersionError");
      assert.match(e.message, /^model heart-classifier version 42 in workspace mlw-heart \(resource group rg-heart\) already exists with different content/);
      assert.ok(e.message.includes(`modelUri: registered ${other}, this stack has ${MODEL_URI}`), e.message);
      assert.match(e.message, /modelType: registered custom_model, this stack has mlflow_model/);
      assert.match(e.message, /Archive or delete that version in the workspace, or rename the asset/);
      return true;
    });
    assert.deepStrictEqual(fake.seen.map((s) => s.method), ["GET"]);
    fake.seed("environments", "uci-heart-scoring", "e1", { image: "other:1", condaFile: CONDA });
    await assert.rejects(
      provider.create({ ...modelInputs(), assetKind: "environments", name: "uci-heart-scoring", version: "e1", properties: { image: "mine:1", condaFile: CONDA } }),
      /environment uci-heart-scoring version e1 .* already exists with different content \(image: registered other:1, this stack has mine:1\)/,
    );
  });

  it("adopts a version someone registered between its GET and PUT (409), after checking the content", async () => {
    fake.race({ ...modelProps }, 409);
    const r = await provider.create(modelInputs());
    assert.deepStrictEqual(fake.seen.map((s) => s.method), ["GET", "PUT", "GET"]);
    assert.strictEqual(r.outs.created, false);
    fake.reset();
    fake.race({ ...modelProps, modelUri: "azureml://elsewhere" }, 409);
    await assert.rejects(provider.create(modelInputs()), /already exists with different content/);
  });

  it("a PUT answered 200 (the version was already there when it arrived) does not make this stack the owner", async () => {
    fake.race({ ...modelProps }, 200);
    const r = await provider.create(modelInputs());
    assert.deepStrictEqual(fake.seen.map((s) => [s.method, s.path]), [["GET", modelId], ["PUT", modelId], ["GET", modelId]]);
    assert.strictEqual(r.outs.created, false, "only 201 Created makes this stack the owner");
    // And so its destroy (retainOnDestroy false) leaves the version to whoever registered it.
    fake.seen.length = 0;
    await provider.delete!(modelId, r.outs);
    assert.strictEqual(fake.seen.length, 0);
    assert.ok(fake.version("models", "heart-classifier", "42"));
  });

  it("delete removes only a version it registered, does not retain, and still holds what it registered", async () => {
    const created: AssetVersionOutputs = { ...modelInputs(), armId: modelId, created: true };
    fake.seed("models", "heart-classifier", "42", modelProps);
    await provider.delete!(modelId, { ...created, retainOnDestroy: true });
    await provider.delete!(modelId, { ...created, created: false });
    assert.strictEqual(fake.seen.length, 0, "retained, or adopted from someone else: no call");
    await provider.delete!(modelId, created);
    assert.deepStrictEqual(fake.seen.map((s) => [s.method, s.path, s.apiVersion]), [["GET", modelId, "2025-12-01"], ["DELETE", modelId, "2025-12-01"]]);
    assert.strictEqual(fake.versions.size, 0);
    await provider.delete!(modelId, created);
    assert.deepStrictEqual(fake.seen.slice(2).map((s) => s.method), ["GET"], "a gone version: nothing to delete");
    // Re-registered by hand with other content under the same version: not the version this stack registered.
    fake.seed("models", "heart-classifier", "42", { ...modelProps, modelUri: "azureml://someone/else" });
    await provider.delete!(modelId, created);
    assert.ok(fake.version("models", "heart-classifier", "42"), "left alone");
  });

  it("update: retainOnDestroy alone makes no call and keeps what create recorded", async () => {
    const olds: AssetVersionOutputs = { ...modelInputs(), armId: modelId, created: true };
    const r = await provider.update!(modelId, olds, modelInputs({ retainOnDestroy: true }));
    assert.deepStrictEqual(r.outs, { ...modelInputs({ retainOnDestroy: true }), armId: modelId, created: true });
    assert.strictEqual(fake.seen.length, 0);
  });

  it("update: a new description is written to a version this stack registered, never to an adopted one", async () => {
    fake.seed("models", "heart-classifier", "42", modelProps);
    const described = modelInputs({ properties: { ...modelProps, description: "retrained on 2026 data" } });
    const owned = await provider.update!(modelId, { ...modelInputs(), armId: modelId, created: true }, described);
    assert.deepStrictEqual(fake.seen.map((s) => s.method), ["GET", "PUT"]);
    assert.deepStrictEqual(fake.seen[1].body, { properties: described.properties });
    assert.strictEqual(owned.outs.created, true);
    fake.seen.length = 0;
    fake.seed("models", "heart-classifier", "42", modelProps);
    await provider.update!(modelId, { ...modelInputs(), armId: modelId, created: false }, described);
    assert.deepStrictEqual(fake.seen.map((s) => s.method), ["GET"], "adopted: read, not written");
    assert.strictEqual(fake.version("models", "heart-classifier", "42")!.description, undefined);
  });

  it("update: other content under the same version is refused, naming both values", async () => {
    fake.seed("models", "heart-classifier", "42", modelProps);
    const moved = modelInputs({ properties: { ...modelProps, modelUri: `${MODEL_URI}-moved` } });
    await assert.rejects(provider.update!(modelId, { ...modelInputs(), armId: modelId, created: true }, moved), (e: Error) => {
      assert.match(e.message, /model heart-classifier version 42 .* holds other content than this stack registers under that version \(modelUri: registered .*, this stack has .*-moved\)/);
      return true;
    });
    assert.deepStrictEqual(fake.seen.map((s) => s.method), ["GET"]);
  });

  it("read: the same content keeps the state; gone shows as gone; other content shows as drift", async () => {
    const olds: AssetVersionOutputs = { ...modelInputs(), armId: modelId, created: true };
    fake.seed("models", "heart-classifier", "42", { ...modelProps, flavors: { python_function: {} } });
    assert.deepStrictEqual(await provider.read!(modelId, olds), { id: modelId, props: olds });
    fake.seed("models", "heart-classifier", "42", { ...modelProps, modelUri: "azureml://else" });
    const drift = await provider.read!(modelId, olds);
    assert.deepStrictEqual(drift.props.properties, { ...modelProps, modelUri: "azureml://else" });
    assert.strictEqual(diffAssetVersion(drift.props, modelInputs()).changes, true, "the next up sees it");
    fake.deleteVersionByHand("models", "heart-classifier", "42");
    assert.deepStrictEqual(await provider.read!(modelId, olds), { id: "", props: {} });
  });

  it("versions in use: what each deployment runs, through the component specs down to code, environment and models", async () => {
    const id = (kind: string, name: string, v: string) => `${wsPath}/${kind}/${name}/versions/${v}`;
    fake.seedVersion("components", "pipe", "p1", { componentSpec: { jobs: { prepare: { componentId: `azureml:${id("components", "prep", "c1")}` }, score: { inputs: { model: { uri: id("models", "m", "3") } } } } } });
    fake.seedVersion("components", "prep", "c1", { componentSpec: { code: `azureml:${id("codes", "prep-code", "k1")}`, environment: `azureml:${id("environments", "env", "e1")}` } });
    fake.seedEndpoint("ep-a", []);
    fake.deployments.get("ep-a")!.set("blue", { name: "blue", properties: { deploymentConfiguration: { componentId: { referenceType: "Id", assetId: id("components", "pipe", "p1") } } } });
    const used = await versionsInUse(armUsageApi(createArmClient(new TestTokenCredential(), ws, { endpoint: fake.url, maxRetries: 0 })), ws);
    assert.deepStrictEqual(
      [...used.entries()].sort(),
      [id("codes", "prep-code", "k1"), id("components", "pipe", "p1"), id("components", "prep", "c1"), id("environments", "env", "e1"), id("models", "m", "3")].map((k) => [k.toLowerCase(), "ep-a/blue"]).sort(),
    );
  });

  it("check names what is missing or malformed", async () => {
    assert.deepStrictEqual(await provider.check!({}, modelInputs()), { inputs: modelInputs() });
    const r = await provider.check!({}, { ...modelInputs(), assetKind: "datasets", version: "", properties: [] } as any);
    assert.deepStrictEqual(r.failures!.map((f: any) => f.property).sort(), ["assetKind", "properties", "version"]);
  });

  it("5xx, 403 and 401 end in clear errors that name the version, the status and what to do", async () => {
    fake.failure = armError(503, "ServiceUnavailable", "try later");
    await assert.rejects(
      provider.create(modelInputs()),
      /could not read model heart-classifier version 42 in workspace mlw-heart \(resource group rg-heart\) \(HTTP 503, ServiceUnavailable: try later\)\. The service kept failing after retries; run pulumi up again later\./,
    );
    fake.failure = undefined;
    const api = armAssetApi(createArmClient(new TestTokenCredential(), ws, { endpoint: fake.url, maxRetries: 0 }));
    const ref: AssetRef = { ...ws, kind: "codes", name: "prepare-code", version: "abc" };
    fake.failure = armError(403, "AuthorizationFailed", "client x does not have authorization");
    await assert.rejects(api.put(ref, { codeUri: "u" }), /could not register code prepare-code version abc .*\(HTTP 403, AuthorizationFailed: client x does not have authorization\)\. The identity running pulumi needs a role that can write code versions/);
    await assert.rejects(api.delete(ref), /could not delete code prepare-code version abc .*HTTP 403/);
    fake.failure = undefined;
    const wrongAudience = armAssetApi(createArmClient(new TestTokenCredential(3600, "https://storage.azure.com"), ws, { endpoint: fake.url, maxRetries: 0 }));
    await assert.rejects(wrongAudience.get(ref), /HTTP 401, InvalidAuthenticationToken: wrong audience\)\. Sign in again/);
  });

  it("retries a failing service through the shared ARM client before giving up", async function () {
    this.timeout(10_000);
    fake.failure = armError(500, "InternalServerError", "boom");
    const api = armAssetApi(createArmClient(new TestTokenCredential(), ws, { endpoint: fake.url, maxRetries: 1 }));
    await assert.rejects(ensureAssetVersion(api, { ...ws, kind: "models", name: "heart-classifier", version: "42" }, modelProps), /HTTP 500/);
    assert.deepStrictEqual(fake.seen.map((s) => s.method), ["GET", "GET"]);
  });
});

describe("stack: asset versions (pure parts)", function () {
  it("diff: workspace, kind, name or version replace (new before old); retainOnDestroy or other properties update", () => {
    const a = modelInputs();
    assert.deepStrictEqual(diffAssetVersion(a, a), { changes: false, replaces: [], deleteBeforeReplace: false });
    assert.deepStrictEqual(diffAssetVersion(a, { ...a, version: "43" }), { changes: true, replaces: ["version"], deleteBeforeReplace: false });
    assert.deepStrictEqual(diffAssetVersion(a, { ...a, workspaceName: "w2", assetKind: "codes" }).replaces, ["workspaceName", "assetKind"]);
    assert.deepStrictEqual(diffAssetVersion(a, { ...a, retainOnDestroy: true }), { changes: true, replaces: [], deleteBeforeReplace: false });
    assert.deepStrictEqual(diffAssetVersion(a, { ...a, properties: { ...modelProps, description: "new words" } }), { changes: true, replaces: [], deleteBeforeReplace: false });
    const reordered = Object.fromEntries(Object.entries(modelProps).reverse());
    assert.strictEqual(diffAssetVersion(a, { ...a, properties: reordered }).changes, false, "the same properties in another key order");
  });

  it("content comparison: the fields that define each kind, and only those", () => {
    assert.deepStrictEqual(contentDifferences("models", modelProps, { ...modelProps, modelType: "MLFlowModel", flavors: {}, description: "x" }), []);
    assert.deepStrictEqual(contentDifferences("models", { modelType: "custom_model", modelUri: "azureml://subscriptions/S/resourcegroups/RG/workspaces/W/datastores/d/paths/A/b" }, { modelType: "CustomModel", modelUri: "azureml://subscriptions/s/resourcegroups/rg/workspaces/w/datastores/d/paths/A/b" }), []);
    assert.strictEqual(contentDifferences("models", { modelType: "custom_model", modelUri: "azureml://x/paths/A/b" }, { modelType: "custom_model", modelUri: "azureml://x/paths/a/b" }).length, 1, "blob paths are case-sensitive");
    assert.deepStrictEqual(contentDifferences("codes", { codeUri: "https://a/c/LocalUpload/h/src" }, { codeUri: "https://a/c/LocalUpload/h/src/" }), []);
    assert.strictEqual(contentDifferences("codes", { codeUri: "https://a/c/LocalUpload/h/src" }, {}).length, 1);
    assert.strictEqual(contentDifferences("environments", { image: "i", condaFile: CONDA }, { image: "i", condaFile: CONDA.replace("1.7.4", "2.0.0") }).length, 1);
    assert.deepStrictEqual(contentDifferences("components", { componentSpec: { a: 1 } }, { componentSpec: { b: 2 } }), []);
  });
});

describe("stack: asset versions (the serialized provider, as Pulumi's dynamic provider host runs it)", function () {
  this.timeout(60_000);
  const fake = new FakeAssets();
  let az: FakeAzCli;
  let dir: string;
  before(async () => {
    await fake.start();
    az = makeFakeAzCli();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "asset-provider-"));
    // The provider text Pulumi stores with every asset version of the program.
    const run = await runProgram(stackProgram(rawConfig()));
    fs.writeFileSync(path.join(dir, "asset.js"), findAll(run, "pulumi-nodejs:dynamic/heartscoring:WorkspaceAssetVersion")[0].inputs.__provider);
  });
  after(async () => {
    await fake.stop();
    az.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs one provider call in a plain Node process (no ts-node), with the real credential chain (az) and ARM client. */
  async function inChild(call: string): Promise<any> {
    const script = `
      const p = require(${JSON.stringify(path.join(dir, "asset.js"))}).handler();
      Promise.resolve(${call}).then((r) => console.log(JSON.stringify(r ?? null)), (e) => { console.error(e.message); process.exit(3); });`;
    const { stdout } = await execFileP(process.execPath, ["-e", script], {
      env: { ...process.env, NODE_OPTIONS: "", NODE_PATH: path.join(PROJECT_ROOT, "node_modules"), PATH: az.path, AZURE_TOKEN_CREDENTIALS: "AzureCliCredential", HEART_ARM_ENDPOINT: fake.url },
    });
    return JSON.parse(stdout);
  }

  it("registers, adopts and deletes through DefaultAzureCredential and the shared ARM client", async () => {
    const inputs = modelInputs();
    const created = await inChild(`p.create(${JSON.stringify(inputs)})`);
    assert.deepStrictEqual(created, { id: modelId, outs: { ...inputs, armId: modelId, created: true } });
    assert.deepStrictEqual(fake.seen.map((s) => [s.method, s.apiVersion, s.audience]), [
      ["GET", "2025-12-01", "https://management.azure.com"],
      ["PUT", "2025-12-01", "https://management.azure.com"],
    ]);
    assert.ok(az.calls().some((c) => c.includes("--resource") && c[c.indexOf("--resource") + 1].startsWith("https://management.azure.com")), "token from the CLI, for ARM");
    const adopted = await inChild(`p.create(${JSON.stringify(inputs)})`);
    assert.strictEqual(adopted.outs.created, false);
    assert.deepStrictEqual(fake.seen.slice(2).map((s) => s.method), ["GET"]);
    await inChild(`p.delete(${JSON.stringify(modelId)}, ${JSON.stringify(created.outs)})`);
    // Before deleting: the version as registered, and whether any deployment in the workspace uses it (none here).
    assert.deepStrictEqual(fake.seen.slice(3).map((s) => [s.method, s.path]), [["GET", modelId], ["GET", `${wsPath}/batchEndpoints`], ["DELETE", modelId]]);
    assert.strictEqual(fake.versions.size, 0);
  });
});
