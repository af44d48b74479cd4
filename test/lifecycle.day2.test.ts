/**
 * The README's day-2 changes, played as a stack's life: the real program (run under mocks for each config and
 * checkout, as `pulumi up` evaluates it) gives the goal graph; the engine stand-in (test/support/engine.ts) runs
 * every custom resource through its provider in Pulumi's step order. The dynamic providers are the real ones
 * against the fake workspace (test/support/fakeArm.ts) and Azurite; the azure-native endpoint, deployment and
 * cluster are small stand-ins that PUT/DELETE the documented ARM bodies on the same fake (a full endpoint PUT
 * drops its default, and the default deployment cannot be deleted: the fake's stricter readings).
 *
 * One stack, in order: first deploy; re-run; a new model; rollback A → B → A; stage a candidate; switch the
 * default; remove the old deployment; replace the pointer (both orders); a default cleared in Studio and a model
 * version deleted by hand, restored by `npm run deploy -- --refresh`; a new endpoint; destroy.
 */
import assert from "assert";
import * as fs from "fs";
import * as path from "path";
import type * as pulumi from "@pulumi/pulumi";
import { BlobServiceClient } from "@azure/storage-blob";
import { FakeWorkspace } from "./support/fakeArm";
import { Engine, Goal } from "./support/engine";
import { startAzurite, Azurite } from "./support/azurite";
import { TestTokenCredential } from "./support/tokens";
import { copyProject, MOCK_ACCOUNT, MOCK_CONTAINER, ProgramRun, rawConfig, runProgram, stackProgram, TEST_WORKSPACE } from "./support/pulumiMocks";
import { createArmClient } from "../lib/armClient";
import { armRequest } from "../lib/armRequest";
import { armAssetApi, armUsageApi } from "../lib/assetVersions";
import { getBlobDatastore } from "../lib/datastore";
import { uploadFolder } from "../lib/folderUpload";
import { armEndpointApi, makeDefaultDeploymentProvider } from "../infra/defaultDeployment";
import { makeAssetVersionProvider, startOfRun } from "../infra/assetVersion";
import { makeFolderUploadProvider, uploadIsComplete } from "../infra/folderUploadResource";

const ML = "azure-native:machinelearningservices";
const POINTER = "pulumi-nodejs:dynamic/heartscoring:DefaultDeployment";
const ASSET = "pulumi-nodejs:dynamic/heartscoring:WorkspaceAssetVersion";
const UPLOAD = "pulumi-nodejs:dynamic/heartscoring:FolderUpload";
const ws = TEST_WORKSPACE;

/** The custom resources of a program run, as the engine's goals (in registration order). */
function goalsOf(run: ProgramRun): Goal[] {
  return run.resources
    .filter((r) => r.custom && !r.type.startsWith("pulumi:providers:"))
    .map((r) => {
      const { __provider: _p, ...inputs } = r.inputs;
      return { urn: `${r.type}::${r.name}`, type: r.type, inputs };
    });
}

describe("lifecycle: the README's day-2 changes, one stack through the engine's steps", function () {
  this.timeout(120_000);
  const fake = new FakeWorkspace(ws);
  let azurite: Azurite;
  let root: string;
  let engine: Engine;
  let run: ProgramRun;
  const client = () => createArmClient(new TestTokenCredential(), ws, { endpoint: fake.url, maxRetries: 0 });
  const deploymentsConfig = (list: unknown, over: Record<string, string> = {}) => rawConfig({ deployments: JSON.stringify(list), ...over });
  const CANDIDATE = { "heart-classifier": "models/candidate/heart-classifier" };

  /** `pulumi up` of the program under `config`, from the checkout at `root`. */
  async function up(config: Record<string, string>, opts: { replace?: string[]; refresh?: boolean; pointerDeleteBeforeReplace?: boolean } = {}): Promise<number> {
    run = await runProgram(stackProgram(config, root));
    const goals = goalsOf(run).map((g) => (g.type === POINTER && opts.pointerDeleteBeforeReplace ? { ...g, deleteBeforeReplace: true } : g));
    const from = engine.steps.length;
    await engine.up(goals, opts);
    return from;
  }
  const state = (type: string) => [...engine.state.values()].filter((e) => e.type === type);
  const endpointName = () => run.outputs.endpointName as string;
  const writesSince = (n: number) => fake.seen.slice(n).filter((s) => s.method !== "GET").map((s) => `${s.method} ${s.path.slice(fake.base.length)}`);

  /** Stand-ins for azure-native: the documented bodies, PUT and DELETE on the fake workspace. */
  function azureNative(type: string): pulumi.dynamic.ResourceProvider {
    const send = async (method: "PUT" | "DELETE", p: string, body?: unknown) => {
      const r = await armRequest(client(), method, `${fake.base}${p}`, body === undefined ? {} : { body });
      if (r.status >= 300 && r.status !== 404) throw new Error(`${method} ${p}: HTTP ${r.status} ${r.text ?? ""}`);
    };
    const same = (a: any, b: any) => JSON.stringify(a) === JSON.stringify(b);
    const keys = (i: any) => [i.resourceGroupName, i.workspaceName, i.endpointName, i.deploymentName, i.computeName].join("/");
    if (type === `${ML}:BatchEndpoint`) {
      const put = (i: any) => send("PUT", `/batchEndpoints/${i.endpointName}`, { location: i.location, ...(i.tags ? { tags: i.tags } : {}), properties: i.properties });
      return {
        diff: async (_id, o, n) => ({ changes: !same(o, n), replaces: keys(o) === keys(n) ? [] : ["endpointName"] }),
        create: async (i) => (await put(i), { id: i.endpointName, outs: i }),
        update: async (_id, _o, n) => (await put(n), { outs: n }),
        delete: async (_id, o) => send("DELETE", `/batchEndpoints/${o.endpointName}`),
      };
    }
    if (type === `${ML}:BatchDeployment`) {
      const p = (i: any) => `/batchEndpoints/${i.endpointName}/deployments/${i.deploymentName}`;
      const put = (i: any) => send("PUT", p(i), { location: i.location, ...(i.tags ? { tags: i.tags } : {}), properties: i.properties });
      return {
        diff: async (_id, o, n) => ({ changes: !same(o, n), replaces: keys(o) === keys(n) ? [] : ["endpointName"] }),
        create: async (i) => (await put(i), { id: p(i), outs: i }),
        update: async (_id, _o, n) => (await put(n), { outs: n }),
        delete: async (_id, o) => send("DELETE", p(o)),
      };
    }
    // The cluster: nothing this test looks at.
    return { diff: async (_id, o, n) => ({ changes: !same(o, n) }), create: async (i) => ({ id: String(i.computeName), outs: i }), update: async (_id, _o, n) => ({ outs: n }) };
  }

  before(async () => {
    azurite = await startAzurite();
    await fake.start();
    // The workspace's datastore names its own account; the bytes go to Azurite, as HEART_BLOB_ENDPOINT sends them.
    fake.seedDatastore("workspaceblobstore", MOCK_ACCOUNT, MOCK_CONTAINER);
    await new BlobServiceClient(azurite.blobEndpoint, new TestTokenCredential()).getContainerClient(MOCK_CONTAINER).create();
    root = copyProject();
    const candidate = path.join(root, "models", "candidate", "heart-classifier");
    fs.cpSync(path.join(root, "models", "heart-classifier"), candidate, { recursive: true });
    fs.appendFileSync(path.join(candidate, "MLmodel"), "\n# candidate\n");
    const providers: Record<string, pulumi.dynamic.ResourceProvider> = {
      [POINTER]: makeDefaultDeploymentProvider({ endpoints: () => armEndpointApi(client()) }),
      [ASSET]: makeAssetVersionProvider({ assets: () => armAssetApi(client()), usage: () => armUsageApi(client()) }),
      [UPLOAD]: makeFolderUploadProvider({
        resolveTarget: async (w, name) => {
          const ds = await getBlobDatastore(client(), w, name, { env: { HEART_BLOB_ENDPOINT: azurite.blobEndpoint } });
          return { accountBlobUrl: ds.accountBlobUrl, blobServiceUrl: ds.blobServiceUrl, accountName: ds.accountName, containerName: ds.containerName, credential: new TestTokenCredential() };
        },
        upload: (dir, t) => uploadFolder(dir, t),
        isComplete: uploadIsComplete,
        projectRoot: () => root,
      }),
    };
    engine = new Engine((type) => providers[type] ?? azureNative(type), startOfRun);
  });
  after(async () => {
    await fake.stop();
    if (azurite) await azurite.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  let firstPipeline = "";

  it("first deploy: uploads, versions, endpoint, deployment, and the default pointer", async () => {
    await up(rawConfig());
    assert.deepStrictEqual(fake.deploymentNames(endpointName()), ["uci-classifier-prepros-xgb"]);
    assert.strictEqual(fake.defaultOf(endpointName()), "uci-classifier-prepros-xgb");
    firstPipeline = run.outputs.pipelineComponentId;
    assert.ok(fake.version("components", "uci_heart_classifier_scorer", firstPipeline.split("/").pop()!));
    assert.ok(state(ASSET).every((e) => e.outputs.created === true), "a fresh workspace: every version registered by this stack");
    // The code versions were registered with the URL the upload reported: the datastore's account, not Azurite's.
    for (const code of state(ASSET).filter((e) => e.inputs.assetKind === "codes")) {
      const upload = state(UPLOAD).find((u) => u.outputs.folderUrl === code.inputs.properties.codeUri);
      assert.ok(upload, `${code.urn}: codeUri is an upload's folderUrl`);
      assert.match(code.inputs.properties.codeUri, new RegExp(`^https://${MOCK_ACCOUNT}\\.blob\\.core\\.windows\\.net/`));
    }
  });

  it("a re-run changes nothing and writes nothing", async () => {
    const n = fake.seen.length;
    const from = await up(rawConfig());
    assert.ok(engine.stepsSince(from).every((s) => s.startsWith("same ")), engine.stepsSince(from).join("\n"));
    assert.deepStrictEqual(writesSince(n), []);
  });

  it("a new model: new versions, the deployment updated in place, the default untouched, the old versions kept", async () => {
    fs.appendFileSync(path.join(root, "models", "heart-classifier", "MLmodel"), "\n# retrained\n");
    const from = await up(rawConfig());
    const steps = engine.stepsSince(from);
    assert.ok(steps.includes(`update ${ML}:BatchDeployment::uci-classifier-prepros-xgb`));
    assert.ok(steps.some((s) => s.startsWith(`same ${POINTER}`)), "the pointer does not move");
    assert.notStrictEqual(run.outputs.pipelineComponentId, firstPipeline);
    assert.strictEqual(fake.defaultOf(endpointName()), "uci-classifier-prepros-xgb");
    assert.ok(fake.version("components", "uci_heart_classifier_scorer", firstPipeline.split("/").pop()!), "retained");
  });

  it("rollback (A → B → A): the first versions are adopted again, the deployment moves back", async () => {
    const mlmodel = path.join(root, "models", "heart-classifier", "MLmodel");
    fs.writeFileSync(mlmodel, fs.readFileSync(mlmodel, "utf8").replace("\n# retrained\n", ""));
    const n = fake.seen.length;
    await up(rawConfig());
    assert.strictEqual(run.outputs.pipelineComponentId, firstPipeline);
    const back = state(ASSET).filter((e) => e.inputs.name === "heart-classifier" || e.inputs.name === "uci_heart_classifier_scorer");
    assert.ok(back.every((e) => e.outputs.created === false), "adopted, not registered again");
    assert.ok(!writesSince(n).some((w) => w.startsWith("PUT /models/") || w.startsWith("PUT /components/")), "no version written");
    assert.strictEqual(fake.defaultOf(endpointName()), "uci-classifier-prepros-xgb");
  });

  it("stage a candidate beside the default: a second deployment, the default stays", async () => {
    await up(deploymentsConfig([{ name: "uci-classifier-prepros-xgb", default: true }, { name: "candidate", models: CANDIDATE }]));
    assert.deepStrictEqual(fake.deploymentNames(endpointName()), ["candidate", "uci-classifier-prepros-xgb"]);
    assert.strictEqual(fake.defaultOf(endpointName()), "uci-classifier-prepros-xgb");
  });

  it("switch the default: only the pointer changes", async () => {
    const from = await up(deploymentsConfig([{ name: "uci-classifier-prepros-xgb" }, { name: "candidate", default: true, models: CANDIDATE }]));
    assert.deepStrictEqual(engine.stepsSince(from).filter((s) => !s.startsWith("same ")), [`update ${POINTER}::default-deployment`]);
    assert.strictEqual(fake.defaultOf(endpointName()), "candidate");
  });

  it("remove the old deployment: deleted after the pointer moved (the default one cannot be deleted)", async () => {
    await up(deploymentsConfig([{ name: "candidate", default: true, models: CANDIDATE }]));
    assert.deepStrictEqual(fake.deploymentNames(endpointName()), ["candidate"]);
    assert.strictEqual(fake.defaultOf(endpointName()), "candidate");
  });

  it("replace the pointer (pulumi up --replace), in either order: the default stays set", async () => {
    const config = deploymentsConfig([{ name: "candidate", default: true, models: CANDIDATE }]);
    const urn = `${POINTER}::default-deployment`;
    let from = await up(config, { replace: [urn] });
    assert.deepStrictEqual(engine.stepsSince(from).filter((s) => s.endsWith(urn)), [`create-replacement ${urn}`, `delete-replaced ${urn}`]);
    assert.strictEqual(fake.defaultOf(endpointName()), "candidate");
    from = await up(config, { replace: [urn], pointerDeleteBeforeReplace: true });
    assert.deepStrictEqual(engine.stepsSince(from).filter((s) => s.endsWith(urn)), [`delete-replaced ${urn}`, `create-replacement ${urn}`]);
    assert.strictEqual(fake.defaultOf(endpointName()), "candidate");
  });

  it("changes behind the stack's back (default cleared in Studio, a model version deleted): `npm run deploy -- --refresh` restores both", async () => {
    const config = deploymentsConfig([{ name: "candidate", default: true, models: CANDIDATE }]);
    fake.setDefaultByHand(endpointName(), undefined);
    const model = state(ASSET).find((e) => e.inputs.assetKind === "models" && e.inputs.name === "heart-classifier")!;
    fake.deleteVersionByHand("models", "heart-classifier", model.inputs.version);
    // The invoke a job would make now fails (LiteralJobInput: no pipeline default) until the default is back.
    assert.strictEqual(fake.defaultOf(endpointName()), "");
    const from = await up(config, { refresh: true });
    const steps = engine.stepsSince(from);
    assert.ok(steps.includes(`refresh-gone ${model.urn}`) && steps.includes(`create ${model.urn}`), steps.join("\n"));
    assert.ok(steps.includes(`update ${POINTER}::default-deployment`));
    assert.strictEqual(fake.defaultOf(endpointName()), "candidate");
    assert.ok(fake.version("models", "heart-classifier", model.inputs.version));
  });

  it("a new endpoint: the deployment and the pointer move to it, the old endpoint is released and deleted", async () => {
    const old = endpointName();
    const config = deploymentsConfig([{ name: "candidate", default: true, models: CANDIDATE }], { endpointBaseName: "heart-next" });
    const from = await up(config);
    assert.notStrictEqual(endpointName(), old);
    assert.strictEqual(fake.defaultOf(endpointName()), "candidate");
    assert.strictEqual(fake.endpointBody(old), undefined, "the old endpoint is gone (its deployment first, after the pointer released it)");
    const deletes = engine.stepsSince(from).filter((s) => s.startsWith("delete"));
    assert.deepStrictEqual(deletes, [`delete-replaced ${POINTER}::default-deployment`, `delete-replaced ${ML}:BatchDeployment::candidate`, `delete ${ML}:BatchEndpoint::${old}`]);
  });

  it("destroy with retainAssetsOnDestroy false: releases the pointer, deletes the deployments and only the versions this stack registered", async () => {
    await up(deploymentsConfig([{ name: "candidate", default: true, models: CANDIDATE }], { endpointBaseName: "heart-next", retainAssetsOnDestroy: "false" }));
    const versions = state(ASSET).map((e) => ({ kind: e.inputs.assetKind, name: e.inputs.name, version: e.inputs.version, created: e.outputs.created }));
    assert.ok(versions.length > 0);
    const ep = endpointName();
    await engine.destroy();
    assert.strictEqual(fake.endpointBody(ep), undefined);
    for (const v of versions) assert.strictEqual(!!fake.version(v.kind, v.name, v.version), !v.created, `${v.kind}/${v.name}/${v.version}`);
    // Versions the stack no longer holds (the first model's, retained when it moved on) are not its to delete.
    assert.ok(fake.version("components", "uci_heart_classifier_scorer", firstPipeline.split("/").pop()!));
  });

  it("the fake holds its stricter readings: the default deployment cannot be deleted", async () => {
    fake.seedEndpoint("probe", ["d"], "d");
    const r = await armRequest(client(), "DELETE", `${fake.base}/batchEndpoints/probe/deployments/d`);
    assert.strictEqual(r.status, 400);
    assert.match(r.text ?? "", /is the default deployment of endpoint probe/);
  });
});
