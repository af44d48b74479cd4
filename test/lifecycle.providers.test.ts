/**
 * Each dynamic provider through the engine's own step sequences (test/support/engine.ts plays Pulumi's step
 * generator: check/diff/create/update/read/delete in the engine's orders), against the fake workspace
 * (test/support/fakeArm.ts, documented ARM shapes with ETags) and, for uploads, real blob storage (Azurite):
 * create; update; replace create-before-delete and delete-before-replace; delete; refresh after changes made
 * behind the stack's back.
 */
import assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { BlobServiceClient, ContainerClient } from "@azure/storage-blob";
import { FakeWorkspace } from "./support/fakeArm";
import { Engine, Goal } from "./support/engine";
import { startAzurite, Azurite } from "./support/azurite";
import { TestTokenCredential } from "./support/tokens";
import { createArmClient } from "../lib/armClient";
import { armAssetApi, armUsageApi } from "../lib/assetVersions";
import { hashFolder } from "../lib/contentHash";
import { uploadFolder } from "../lib/folderUpload";
import { armEndpointApi, DefaultDeploymentInputs, makeDefaultDeploymentProvider, OWNER_TAG } from "../infra/defaultDeployment";
import { AssetVersionInputs, makeAssetVersionProvider, startOfRun } from "../infra/assetVersion";
import { FolderUploadInputs, makeFolderUploadProvider, uploadIsComplete } from "../infra/folderUploadResource";

const ws = { subscriptionId: "11111111-2222-3333-4444-555555555555", resourceGroupName: "rg-heart", workspaceName: "mlw-heart" };
const POINTER = "pulumi-nodejs:dynamic/heartscoring:DefaultDeployment";
const ASSET = "pulumi-nodejs:dynamic/heartscoring:WorkspaceAssetVersion";
const UPLOAD = "pulumi-nodejs:dynamic/heartscoring:FolderUpload";

describe("lifecycle: the default pointer through the engine's steps", function () {
  const fake = new FakeWorkspace(ws);
  let owners = 0;
  const provider = () =>
    makeDefaultDeploymentProvider({
      endpoints: (w) => armEndpointApi(createArmClient(new TestTokenCredential(), w, { endpoint: fake.url, maxRetries: 0 })),
      newOwner: () => `owner-${++owners}`,
    });
  const urn = `${POINTER}::default-deployment`;
  const goal = (over: Partial<DefaultDeploymentInputs> = {}, opts: { deleteBeforeReplace?: boolean } = {}): Goal => ({
    urn,
    type: POINTER,
    inputs: { ...ws, endpointName: "ep-1", deploymentName: "blue", endpointRevision: "r1", ...over },
    ...opts,
  });
  let engine: Engine;

  before(() => fake.start());
  after(() => fake.stop());
  beforeEach(async () => {
    fake.reset();
    fake.seedEndpoint("ep-1", ["blue", "green"]);
    fake.seedEndpoint("ep-2", ["blue"]);
    const p = provider();
    engine = new Engine(() => p);
    await engine.up([goal()]);
  });

  const writes = (from: number) => fake.seen.slice(from).filter((s) => s.method === "PUT").length;

  it("create sets the default; a re-run is the same and writes nothing", async () => {
    assert.deepStrictEqual(engine.stepsSince(0), [`create ${urn}`]);
    assert.strictEqual(fake.defaultOf("ep-1"), "blue");
    const n = fake.seen.length;
    await engine.up([goal()]);
    assert.deepStrictEqual(engine.stepsSince(1), [`same ${urn}`]);
    assert.strictEqual(fake.seen.length, n, "no call at all");
  });

  it("update switches the default", async () => {
    await engine.up([goal({ deploymentName: "green" })]);
    assert.deepStrictEqual(engine.stepsSince(1), [`update ${urn}`]);
    assert.strictEqual(fake.defaultOf("ep-1"), "green");
  });

  it("pulumi up --replace (create before delete): the new pointer sets it, the old one's delete leaves it set", async () => {
    await engine.up([goal()], { replace: [urn] });
    assert.deepStrictEqual(engine.stepsSince(1), [`create-replacement ${urn}`, `delete-replaced ${urn}`]);
    assert.strictEqual(fake.defaultOf("ep-1"), "blue");
    assert.strictEqual(fake.endpointBody("ep-1").tags[OWNER_TAG], engine.state.get(urn)!.outputs.owner, "the new pointer owns it");
  });

  it("replace with delete-before-replace: the old one clears, the new one sets it again", async () => {
    await engine.up([goal({}, { deleteBeforeReplace: true })], { replace: [urn] });
    assert.deepStrictEqual(engine.stepsSince(1), [`delete-replaced ${urn}`, `create-replacement ${urn}`]);
    assert.strictEqual(fake.defaultOf("ep-1"), "blue");
  });

  it("a new endpoint replaces the pointer: the new endpoint gets its default, the old one is released", async () => {
    await engine.up([goal({ endpointName: "ep-2" })]);
    assert.deepStrictEqual(engine.stepsSince(1), [`create-replacement ${urn}`, `delete-replaced ${urn}`]);
    assert.strictEqual(fake.defaultOf("ep-2"), "blue");
    assert.strictEqual(fake.defaultOf("ep-1"), "", "released, so its deployment can be deleted");
  });

  it("a default changed in Studio shows on refresh, and the next up puts it back", async () => {
    fake.setDefaultByHand("ep-1", "green");
    const n = fake.seen.length;
    await engine.refresh();
    assert.strictEqual(writes(n), 0, "refresh only reads");
    assert.strictEqual(engine.state.get(urn)!.outputs.deploymentName, "green", "drift in the state");
    await engine.up([goal()]);
    assert.deepStrictEqual(engine.stepsSince(1), [`refresh ${urn}`, `update ${urn}`]);
    assert.strictEqual(fake.defaultOf("ep-1"), "blue");
  });

  it("`npm run deploy -- --refresh` restores a cleared default in one run; without --refresh nothing is seen", async () => {
    fake.setDefaultByHand("ep-1", undefined);
    await engine.up([goal()]);
    assert.strictEqual(fake.defaultOf("ep-1"), "", "plain up: the provider is not asked, so the drift stays");
    await engine.up([goal()], { refresh: true });
    assert.strictEqual(fake.defaultOf("ep-1"), "blue");
  });

  it("the endpoint deleted by hand: refresh drops the pointer", async () => {
    fake.endpoints.delete("ep-1");
    await engine.refresh();
    assert.strictEqual(engine.state.has(urn), false);
  });

  it("destroy releases the default, so the deployment can then be deleted", async () => {
    await engine.destroy();
    assert.strictEqual(fake.defaultOf("ep-1"), "");
    assert.strictEqual(engine.state.size, 0);
  });
});

describe("lifecycle: asset versions through the engine's steps", function () {
  const fake = new FakeWorkspace(ws);
  const arm = (w: typeof ws) => createArmClient(new TestTokenCredential(), w, { endpoint: fake.url, maxRetries: 0 });
  const p = () => makeAssetVersionProvider({ assets: (w) => armAssetApi(arm(w)), usage: (w) => armUsageApi(arm(w)) });
  const urn = `${ASSET}::heart-classifier`;
  const uri = (h: string) => `azureml://subscriptions/${ws.subscriptionId}/resourcegroups/${ws.resourceGroupName}/workspaces/${ws.workspaceName}/datastores/workspaceblobstore/paths/LocalUpload/${h}/heart-classifier`;
  const inputs = (version: string, over: Partial<AssetVersionInputs> = {}): AssetVersionInputs => ({
    ...ws,
    assetKind: "models",
    name: "heart-classifier",
    version,
    properties: { modelType: "mlflow_model", modelUri: uri(version), isAnonymous: false, isArchived: false },
    retainOnDestroy: false,
    ...over,
  });
  const goal = (version: string, over: Partial<AssetVersionInputs> = {}, opts: { deleteBeforeReplace?: boolean } = {}): Goal => ({ urn, type: ASSET, inputs: inputs(version, over), ...opts });
  let engine: Engine;

  before(() => fake.start());
  after(() => fake.stop());
  beforeEach(() => {
    fake.reset();
    const provider = p();
    engine = new Engine(() => provider, startOfRun);
  });

  it("create registers (201: owned); a re-run is the same; a new description is an update", async () => {
    await engine.up([goal("1")]);
    assert.strictEqual(engine.state.get(urn)!.outputs.created, true);
    await engine.up([goal("1")]);
    await engine.up([goal("1", { properties: { ...inputs("1").properties, description: "retrained" } })]);
    assert.deepStrictEqual(engine.stepsSince(0), [`create ${urn}`, `same ${urn}`, `update ${urn}`]);
    assert.strictEqual(fake.version("models", "heart-classifier", "1")!.description, "retrained");
  });

  it("a new version replaces, new before old; the old one is deleted only when not retained", async () => {
    await engine.up([goal("1", { retainOnDestroy: true })]);
    await engine.up([goal("2", { retainOnDestroy: true })]);
    assert.deepStrictEqual(engine.stepsSince(1), [`create-replacement ${urn}`, `delete-replaced ${urn}`]);
    assert.ok(fake.version("models", "heart-classifier", "1"), "retained");
    await engine.up([goal("2")]);
    await engine.up([goal("3")]);
    assert.ok(fake.version("models", "heart-classifier", "3"));
    assert.strictEqual(fake.version("models", "heart-classifier", "2"), undefined, "registered by this stack, not retained: deleted");
  });

  it("delete-before-replace deletes the old version first, then registers the new one", async () => {
    await engine.up([goal("1")]);
    await engine.up([goal("2", {}, { deleteBeforeReplace: true })]);
    assert.deepStrictEqual(engine.stepsSince(1), [`delete-replaced ${urn}`, `create-replacement ${urn}`]);
    assert.deepStrictEqual([!!fake.version("models", "heart-classifier", "1"), !!fake.version("models", "heart-classifier", "2")], [false, true]);
  });

  it("pulumi up --replace of the same version keeps it: the replacement holds it, the old one's delete leaves it", async () => {
    await engine.up([goal("1")]);
    await engine.up([goal("1")], { replace: [urn] });
    assert.deepStrictEqual(engine.stepsSince(1), [`create-replacement ${urn}`, `delete-replaced ${urn}`]);
    assert.ok(fake.version("models", "heart-classifier", "1"), "still registered");
    await engine.refresh();
    assert.ok(engine.state.has(urn));
  });

  it("a version deleted by hand is gone on refresh and registered again by the next up", async () => {
    await engine.up([goal("1")]);
    fake.deleteVersionByHand("models", "heart-classifier", "1");
    await engine.up([goal("1")], { refresh: true });
    assert.deepStrictEqual(engine.stepsSince(1), [`refresh-gone ${urn}`, `create ${urn}`]);
    assert.ok(fake.version("models", "heart-classifier", "1"));
  });

  it("other content re-registered by hand under the version: refresh shows drift, the next up refuses with both values", async () => {
    await engine.up([goal("1")]);
    fake.seedVersion("models", "heart-classifier", "1", { ...inputs("1").properties, modelUri: uri("by-hand") });
    await engine.refresh();
    await assert.rejects(engine.up([goal("1")]), /holds other content than this stack registers under that version \(modelUri: registered .*by-hand.*, this stack has/);
  });

  it("two stacks share versions: the registering stack's destroy keeps what the other stack's deployment uses", async () => {
    // Stack A registers a model and a pipeline component that names it; stack B adopts both and deploys the pipeline.
    const pipelineUrn = `${ASSET}::pipeline`;
    const modelId = `${fake.base}/models/heart-classifier/versions/1`;
    const pipeline = (): Goal => ({
      urn: pipelineUrn,
      type: ASSET,
      inputs: { ...inputs("p1"), assetKind: "components", name: "scorer", properties: { componentSpec: { jobs: { score: { inputs: { model: { job_input_type: "mlflow_model", uri: modelId } } } } } } },
    });
    const only: Goal = { urn: `${ASSET}::only-a`, type: ASSET, inputs: { ...inputs("9"), name: "only-a" } };
    await engine.up([goal("1"), pipeline(), only]);
    const providerB = p();
    const b = new Engine(() => providerB, startOfRun);
    await b.up([goal("1"), pipeline()]);
    assert.deepStrictEqual([...b.state.values()].map((e) => e.outputs.created), [false, false], "B adopted both");
    for (let i = 0; i < 3; i++) fake.seedEndpoint(`other-${i}`, []);
    fake.seedEndpoint("ep-b", []);
    fake.deployments.get("ep-b")!.set("blue", { name: "blue", properties: { deploymentConfiguration: { componentId: { referenceType: "Id", assetId: `${fake.base}/components/scorer/versions/p1` } } } });
    await engine.destroy();
    assert.ok(fake.version("components", "scorer", "p1"), "B's deployment runs it");
    assert.ok(fake.version("models", "heart-classifier", "1"), "B's pipeline names it");
    assert.strictEqual(fake.version("models", "only-a", "9"), undefined, "used by no one else: deleted");
    assert.ok(fake.seen.some((s) => s.query.$skip === "2"), "every page of endpoints was read");
  });

  it("destroy deletes what this stack registered, never a version it adopted", async () => {
    fake.seedVersion("models", "heart-classifier", "7", inputs("7").properties);
    const other = `${ASSET}::transforms`;
    const adopted: Goal = { urn: other, type: ASSET, inputs: inputs("7") };
    await engine.up([goal("1"), adopted]);
    assert.deepStrictEqual([engine.state.get(urn)!.outputs.created, engine.state.get(other)!.outputs.created], [true, false]);
    await engine.destroy();
    assert.strictEqual(fake.version("models", "heart-classifier", "1"), undefined);
    assert.ok(fake.version("models", "heart-classifier", "7"), "adopted from another stack: kept");
  });
});

describe("lifecycle: folder uploads through the engine's steps (Azurite)", function () {
  const fake = new FakeWorkspace(ws);
  let azurite: Azurite;
  let container: ContainerClient;
  let root: string;
  const urn = `${UPLOAD}::my-model`;
  const goal = (): Goal => {
    const inputs: FolderUploadInputs = { ...ws, datastoreName: "workspaceblobstore", folderName: "my-model", hash: hashFolder(path.join(root, "my-model")).hash, source: "my-model" };
    return { urn, type: UPLOAD, inputs: inputs as unknown as Record<string, any> };
  };
  let engine: Engine;

  before(async () => {
    azurite = await startAzurite();
    await fake.start();
    fake.seedDatastore("workspaceblobstore", "stheartprod", "azureml-blobstore-lifecycle");
    container = new BlobServiceClient(azurite.blobEndpoint, new TestTokenCredential()).getContainerClient("azureml-blobstore-lifecycle");
    await container.create();
    root = fs.mkdtempSync(path.join(os.tmpdir(), "upload-lifecycle-"));
    fs.mkdirSync(path.join(root, "my-model"));
    fs.writeFileSync(path.join(root, "my-model", "MLmodel"), "flavors: {}\n");
    const { getBlobDatastore } = await import("../lib/datastore");
    const provider = makeFolderUploadProvider({
      // The real datastore look-up against the fake workspace, with the transfer redirected as HEART_BLOB_ENDPOINT does.
      resolveTarget: async (w, name) => {
        const ds = await getBlobDatastore(createArmClient(new TestTokenCredential(), w, { endpoint: fake.url }), w, name, { env: { HEART_BLOB_ENDPOINT: azurite.blobEndpoint } });
        return { accountBlobUrl: ds.accountBlobUrl, blobServiceUrl: ds.blobServiceUrl, accountName: ds.accountName, containerName: ds.containerName, credential: new TestTokenCredential() };
      },
      upload: (dir, t) => uploadFolder(dir, t),
      isComplete: uploadIsComplete,
      projectRoot: () => root,
    });
    engine = new Engine(() => provider);
  });
  after(async () => {
    await fake.stop();
    if (azurite) await azurite.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("create uploads through the override but reports the datastore's own account URL", async () => {
    await engine.up([goal()]);
    const outs = engine.state.get(urn)!.outputs;
    assert.strictEqual(outs.folderUrl, `https://stheartprod.blob.core.windows.net/azureml-blobstore-lifecycle/LocalUpload/${outs.hash}/my-model`);
    assert.ok(!outs.folderUrl.includes("127.0.0.1"), "HEART_BLOB_ENDPOINT never reaches a registered URL");
    assert.ok(await container.getBlobClient(`${outs.path}/MLmodel`).exists(), "the bytes went to the override");
  });

  it("changed content replaces (new upload before the old one's delete, which leaves the blobs)", async () => {
    const before = engine.state.get(urn)!.outputs.path;
    fs.appendFileSync(path.join(root, "my-model", "MLmodel"), "# retrained\n");
    const n = engine.steps.length;
    await engine.up([goal()]);
    assert.deepStrictEqual(engine.stepsSince(n), [`create-replacement ${urn}`, `delete-replaced ${urn}`]);
    assert.ok(await container.getBlobClient(`${before}/MLmodel`).exists(), "content-addressed blobs stay");
  });

  it("blobs deleted by hand: refresh drops the upload and the next up uploads it again", async () => {
    const { path: p } = engine.state.get(urn)!.outputs;
    for await (const b of container.listBlobsFlat({ prefix: `${p}/` })) await container.deleteBlob(b.name);
    const n = engine.steps.length;
    await engine.up([goal()], { refresh: true });
    assert.deepStrictEqual(engine.stepsSince(n), [`refresh-gone ${urn}`, `create ${urn}`]);
    assert.ok(await container.getBlobClient(`${p}/MLmodel`).exists());
  });
});
