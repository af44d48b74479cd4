/**
 * The policy pack as the Pulumi CLI runs it: the Node.js language host starts
 * `@pulumi/pulumi/cmd/run-policy-pack <engine> <pack dir>` with the pack directory as working directory, the
 * pack prints the port of its analyzer gRPC server, and the engine calls GetAnalyzerInfo, Configure and Analyze.
 * This test does the same with the repository's own node_modules (what `npm ci` installs), so it shows that
 * `pulumi preview --policy-pack policy` finds the pack's dependencies and that violations reach the engine.
 * (The CLI itself is not installed here; the engine side of the protocol is this test.)
 */
import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
// The engine's side of the analyzer protocol, from the SDK the pack runs on.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const analyzerRpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const analyzerProto = require("@pulumi/pulumi/proto/analyzer_pb");

const ROOT = path.resolve(__dirname, "..");
const PACK_DIR = path.join(ROOT, "policy");

interface Diagnostic {
  policy: string;
  message: string;
  enforcement: number;
}

interface RunningPack {
  child: ChildProcess;
  client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  stderr: () => string;
}

async function startPack(env: NodeJS.ProcessEnv): Promise<RunningPack> {
  const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [PACK_DIR] });
  const child = spawn(process.execPath, [runner, "127.0.0.1:1", "."], { cwd: PACK_DIR, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the pack printed no port within 45 s; stderr:\n${err}`)), 45_000);
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /^(\d+)\s*$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the pack exited with ${code} before printing a port; stderr:\n${err}`));
    });
  });
  const client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return { child, client, stderr: () => err };
}

function call<T>(client: RunningPack["client"], method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method](request, (e: Error | null, r: T) => (e ? reject(e) : resolve(r))));
}

async function analyze(
  pack: RunningPack,
  r: { type: string; name: string; stack: string; props: Record<string, unknown>; protect?: boolean },
): Promise<Diagnostic[]> {
  const req = new analyzerProto.AnalyzeRequest();
  req.setType(r.type);
  req.setName(r.name);
  req.setUrn(`urn:pulumi:${r.stack}::heart-batch-scoring::heartscoring:infra:HeartScoring$${r.type}::${r.name}`);
  req.setProperties(Struct.fromJavaScript(r.props as never));
  const opts = new analyzerProto.AnalyzerResourceOptions();
  opts.setProtect(r.protect ?? false);
  req.setOptions(opts);
  const res = await call<{ getDiagnosticsList(): { getPolicyname(): string; getMessage(): string; getEnforcementlevel(): number }[] }>(pack.client, "analyze", req);
  return res.getDiagnosticsList().map((d) => ({ policy: d.getPolicyname(), message: d.getMessage(), enforcement: d.getEnforcementlevel() }));
}

const COMPUTE = "azure-native:machinelearningservices:Compute";
const ASSET = "pulumi-nodejs:dynamic/heartscoring:WorkspaceAssetVersion";
const TAGS = { project: "heart-batch-scoring", environment: "dev" };
const computeProps = (minNodeCount: number) => ({
  computeName: "batch-cluster",
  tags: TAGS,
  properties: { computeType: "AmlCompute", properties: { vmSize: "Standard_DS3_v2", scaleSettings: { minNodeCount, maxNodeCount: 5 } } },
});
const modelProps = (retainOnDestroy: boolean) => ({
  subscriptionId: "s",
  resourceGroupName: "rg",
  workspaceName: "ws",
  assetKind: "models",
  name: "heart-classifier",
  version: "42",
  properties: { modelType: "mlflow_model", modelUri: "azureml://x" },
  retainOnDestroy,
  __provider: "exports.handler = ...",
});

describe("policy pack (run the way the Pulumi CLI runs it)", function () {
  this.timeout(90_000);
  let pack: RunningPack | undefined;
  const baseEnv = { ...process.env };

  before(async () => {
    pack = await startPack(baseEnv);
  });
  after(() => {
    pack?.client.close();
    pack?.child.kill();
  });

  it("starts from the repository's node_modules and lists its five mandatory policies", async () => {
    const info = await call<{ getName(): string; getVersion(): string; getPoliciesList(): { getName(): string; getEnforcementlevel(): number }[] }>(pack!.client, "getAnalyzerInfo", new Empty());
    assert.strictEqual(info.getName(), "heart-scoring-guardrails");
    assert.strictEqual(info.getVersion(), "0.1.0");
    const policies = info.getPoliciesList();
    assert.deepStrictEqual(policies.map((p) => p.getName()), [
      "compute-min-nodes-zero",
      "endpoint-entra-auth-only",
      "endpoint-no-user-assigned-identity",
      "assets-retained-in-production",
      "required-tags",
    ]);
    assert.ok(policies.every((p) => p.getEnforcementlevel() === analyzerProto.EnforcementLevel.MANDATORY));
  });

  it("reports a cluster kept warm on a dev stack as a mandatory violation, and passes it on a production stack", async () => {
    const onDev = await analyze(pack!, { type: COMPUTE, name: "batch-cluster", stack: "dev", props: computeProps(2) });
    assert.deepStrictEqual(onDev.map((d) => d.policy), ["compute-min-nodes-zero"]);
    assert.match(onDev[0].message, /minNodeCount = 2\) on stack "dev"/);
    assert.strictEqual(onDev[0].enforcement, analyzerProto.EnforcementLevel.MANDATORY);
    assert.deepStrictEqual(await analyze(pack!, { type: COMPUTE, name: "batch-cluster", stack: "prod-weu", props: computeProps(2) }), []);
    assert.deepStrictEqual(await analyze(pack!, { type: COMPUTE, name: "batch-cluster", stack: "dev", props: computeProps(0) }), []);
  });

  it("judges an asset version's retention in production from its retainOnDestroy input, or from protect", async () => {
    const deleted = await analyze(pack!, { type: ASSET, name: "heart-classifier-42", stack: "production", props: modelProps(false) });
    assert.deepStrictEqual(deleted.map((d) => d.policy), ["assets-retained-in-production"]);
    assert.match(deleted[0].message, /\(model heart-classifier version 42\) on production stack "production" would be deleted .*retainAssetsOnDestroy to false/);
    assert.deepStrictEqual(await analyze(pack!, { type: ASSET, name: "heart-classifier-42", stack: "production", props: modelProps(true) }), []);
    assert.deepStrictEqual(await analyze(pack!, { type: ASSET, name: "heart-classifier-42", stack: "production", props: modelProps(false), protect: true }), []);
    assert.deepStrictEqual(await analyze(pack!, { type: ASSET, name: "heart-classifier-42", stack: "dev", props: modelProps(false) }), []);
  });

  it("takes productionStacks from the policy pack config (--policy-pack-config)", async () => {
    const req = new analyzerProto.ConfigureAnalyzerRequest();
    const cfg = new analyzerProto.PolicyConfig();
    cfg.setEnforcementlevel(analyzerProto.EnforcementLevel.MANDATORY);
    cfg.setProperties(Struct.fromJavaScript({ productionStacks: ["live-*"] }));
    req.getPolicyconfigMap().set("compute-min-nodes-zero", cfg);
    await call(pack!.client, "configure", req);
    assert.deepStrictEqual(await analyze(pack!, { type: COMPUTE, name: "batch-cluster", stack: "live-weu", props: computeProps(1) }), []);
    const prodNoLonger = await analyze(pack!, { type: COMPUTE, name: "batch-cluster", stack: "prod", props: computeProps(1) });
    assert.deepStrictEqual(prodNoLonger.map((d) => d.policy), ["compute-min-nodes-zero"]);
    assert.match(prodNoLonger[0].message, /production stacks match live-\*/);
  });
});
