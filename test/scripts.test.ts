/**
 * The scripts (invoke / wait / pull / run / run-pipeline / jobs) end to end, as subprocesses, against the fake
 * Azure ML service (test/support/fakeAzureML.ts) backed by Azurite, with the real DefaultAzureCredential chain
 * answered by a fake `az` on PATH. The fake really scores the uploaded input with the local pipeline, so pulled
 * scores are compared byte for byte with a local run of the same input.
 */
import assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { FakeAzureML, CuttingProxy, ARM_AUDIENCE, ML_AUDIENCE, FAKE_API_VERSION, ScriptResult, ScriptsHarness, SpawnedScript, startScriptsHarness } from "./support/fakeAzureML";
import type { FakeAzCli } from "./support/fakeAzCli";
import { runLocalPipeline } from "../scripts/lib/local/runner";

const ROOT = path.resolve(__dirname, "..");
const SAMPLE = fs.readFileSync(path.join(ROOT, "data", "unlabeled", "heart.csv"), "utf8");

type Result = ScriptResult;

function makeInput(name: string, files: Record<string, string>): string {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "scripts-in-")), name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
  return dir;
}

/** The sample four times over (~50 KB of scores): big enough for the mid-download cut. */
function bigSample(): string {
  const [header, ...rows] = SAMPLE.trimEnd().split("\n");
  return [header, ...rows, ...rows, ...rows, ...rows].join("\n") + "\n";
}

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).sort();
}

describe("scripts: invoke / wait / pull against a fake Azure ML + Azurite", function () {
  // Each test runs several script processes; on a loaded CI machine each can take many seconds to start.
  this.timeout(300_000);
  let h: ScriptsHarness;
  let proxy: CuttingProxy;
  let fake: FakeAzureML;
  let az: FakeAzCli;
  let work: string;
  let outputsFile: string;
  let input: string;
  let expectedScores: Buffer;

  function run(cli: string, args: string[], extra: Record<string, string | undefined> = {}, onSpawn?: (kill: (sig: NodeJS.Signals) => void, out: () => string) => void): Promise<Result> {
    return h.run(cli, args, extra, onSpawn && ((p: SpawnedScript) => onSpawn(p.kill, p.stderr)));
  }

  const ok = (r: Result, what: string) => assert.strictEqual(r.code, 0, `${what} failed (${r.code}):\n${r.stderr}`);

  before(async function () {
    this.timeout(180_000);
    h = await startScriptsHarness();
    ({ proxy, fake, az, work, outputsFile } = h);
    input = makeInput("heart-input", { "heart.csv": bigSample(), "README.txt": "not a csv\n" });
    const local = await runLocalPipeline({ inputs: { input_data: input, score_mode: "append" }, runsDir: path.join(work, "expected"), runId: "expected" });
    assert.strictEqual(local.status, "Completed", JSON.stringify(local.error));
    expectedScores = fs.readFileSync(path.join(local.outputs.scores, "heart.csv"));
  });

  after(async () => {
    await h?.stop();
  });

  beforeEach(() => fake.reset());

  async function invoke(args: string[] = [], extra: Record<string, string> = {}): Promise<{ r: Result; job: string }> {
    const r = await run("invoke", ["--input", input, ...args], extra);
    ok(r, "invoke");
    return { r, job: r.stdout.trim() };
  }

  it("invoke a local folder → wait → pull gives the local run's scores, sending the documented requests", async () => {
    const before = fake.requests.length;
    fake.nextJob = { holdRunningUntilPolled: true };
    const { job } = await invoke();
    assert.ok(fake.jobs.has(job), `unknown job ${job}`);
    const w = await run("wait", [job]);
    ok(w, "wait");
    assert.match(w.stderr, /Running/);
    assert.match(w.stderr, /Completed/);
    const out = path.join(work, "pulled-e2e");
    const p = await run("pull", [job, "--out", out]);
    ok(p, "pull");
    assert.strictEqual(p.stdout.trim(), out);
    assert.deepStrictEqual(listFiles(out), ["heart.csv"]);
    assert.ok(fs.readFileSync(path.join(out, "heart.csv")).equals(expectedScores), "pulled scores differ from the local run");

    const reqs = fake.requests.slice(before);
    const inv = reqs.filter((q) => q.kind === "invoke");
    assert.strictEqual(inv.length, 1);
    assert.strictEqual(inv[0].audience, ML_AUDIENCE);
    assert.strictEqual(inv[0].headers["azureml-model-deployment"], undefined, "default deployment: no header");
    const body = inv[0].body as { properties: Record<string, any> };
    assert.strictEqual(body.properties.InputData.input_data.JobInputType, "UriFolder");
    assert.match(body.properties.InputData.input_data.Uri, /^azureml:\/\/datastores\/workspaceblobstore\/paths\/LocalUpload\/[0-9a-f]{64}\/heart-input\/$/);
    assert.deepStrictEqual(body.properties.InputData.score_mode, { JobInputType: "Literal", Value: "append" });
    const inv_id = body.properties.properties["heart.invocationId"];
    assert.strictEqual(body.properties.OutputData.scores.Uri, `${fake.wsId}/datastores/workspaceblobstore/paths/scores/${inv_id}/`, "OutputData as the documented datastore id + /paths/");
    for (const q of reqs.filter((x) => x.kind !== "invoke")) {
      assert.strictEqual(q.audience, ARM_AUDIENCE, `${q.kind} audience`);
      assert.strictEqual(q.query["api-version"], FAKE_API_VERSION, `${q.kind} api-version`);
    }
    assert.ok(az.calls().some((c) => c.includes("https://ml.azure.com")), "an ml.azure.com token was asked of az");
    assert.ok(az.calls().some((c) => c.includes("https://storage.azure.com")), "a storage token was asked of az");

    // Re-runs: the upload is skipped, and pull skips the identical file.
    const again = await run("invoke", ["--input", input]);
    ok(again, "second invoke");
    assert.match(again.stderr, /input already uploaded/);
    await run("wait", [again.stdout.trim()]);
    const p2 = await run("pull", [job, "--out", out, "--json"]);
    ok(p2, "second pull");
    assert.strictEqual(JSON.parse(p2.stdout).skipped, 1);

    // A different file in the way: nothing written without --force (exit 2), replaced with it.
    fs.writeFileSync(path.join(out, "heart.csv"), "edited\n");
    const p3 = await run("pull", [job, "--out", out]);
    assert.strictEqual(p3.code, 2, p3.stderr);
    assert.match(p3.stderr, /heart\.csv/);
    assert.match(p3.stderr, /--force/);
    assert.strictEqual(fs.readFileSync(path.join(out, "heart.csv"), "utf8"), "edited\n");
    assert.deepStrictEqual(listFiles(out), ["heart.csv"], "no temp files left");
    ok(await run("pull", [job, "--out", out, "--force"]), "pull --force");
    assert.ok(fs.readFileSync(path.join(out, "heart.csv")).equals(expectedScores));
  });

  it("run: invoke → wait → pull in one step, with --deployment sent as azureml-model-deployment", async () => {
    const out = path.join(work, "run-out");
    const r = await run("run", ["--input", input, "--deployment", "staging", "--out", out, "--timeout", "2m"]);
    ok(r, "run");
    assert.strictEqual(r.stdout.trim(), out);
    assert.ok(fs.readFileSync(path.join(out, "heart.csv")).equals(expectedScores));
    const inv = fake.calls("invoke").pop()!;
    assert.strictEqual(inv.headers["azureml-model-deployment"], "staging");
  });

  it("429 with Retry-After on invoke: waits as told, then one job", async () => {
    fake.fault("invoke", { status: 429, retryAfter: 1 });
    const jobsBefore = fake.jobs.size;
    const n = fake.calls("invoke").length;
    const { job } = await invoke();
    const inv = fake.calls("invoke").slice(n);
    assert.strictEqual(inv.length, 2);
    assert.ok(inv[1].at - inv[0].at >= 950, `sent again after ${inv[1].at - inv[0].at} ms`);
    assert.strictEqual(fake.jobs.size, jobsBefore + 1);
    ok(await run("wait", [job]), "wait");
  });

  it("a 500/503 burst before the job exists: looks for the job, finds none, sends again; one job", async () => {
    fake.fault("invoke", { status: 503 }, 2);
    const jobsBefore = fake.jobs.size;
    const lists = fake.calls("job-list").length;
    const { r } = await invoke();
    assert.strictEqual(fake.jobs.size, jobsBefore + 1);
    assert.ok(fake.calls("job-list").length > lists, "looked for the job before sending again");
    assert.match(r.stderr, /checking whether the job was created/);
  });

  for (const after of ["drop", { status: 500 }] as const) {
    it(`the answer is lost after the job was created (${after === "drop" ? "dropped connection" : "HTTP 500"}): no second job`, async () => {
      fake.fault("invoke", { after });
      const jobsBefore = fake.jobs.size;
      const n = fake.calls("invoke").length;
      const { job } = await invoke();
      assert.strictEqual(fake.calls("invoke").length - n, 1, "sent once");
      assert.strictEqual(fake.jobs.size, jobsBefore + 1, "exactly one job");
      assert.ok(fake.jobs.has(job), "printed the job that was created");
      ok(await run("wait", [job]), "wait");
    });
  }

  it("wait rides out 503 bursts and a 429 with Retry-After on the job status", async () => {
    const { job } = await invoke();
    fake.fault("job-get", { status: 503 }, 3);
    fake.fault("job-get", { status: 429, retryAfter: 1 }, 1);
    const w = await run("wait", [job]);
    ok(w, "wait");
  });

  it("a dropped connection mid-download: pull resumes, verifies MD5, leaves no partial file", async () => {
    const { job } = await invoke();
    ok(await run("wait", [job]), "wait");
    const out = path.join(work, "pulled-cut");
    const cuts = proxy.cutsDone;
    proxy.cut(1, 20_000);
    const p = await run("pull", [job, "--out", out]);
    ok(p, "pull");
    assert.strictEqual(proxy.cutsDone, cuts + 1, "the connection was cut");
    assert.deepStrictEqual(listFiles(out), ["heart.csv"]);
    assert.ok(fs.readFileSync(path.join(out, "heart.csv")).equals(expectedScores));
  });

  it("a slow job beyond --timeout: exit 3, the job keeps running", async () => {
    fake.nextJob = { runningMs: 20_000 };
    const { job } = await invoke();
    const w = await run("wait", [job, "--timeout", "2s"]);
    assert.strictEqual(w.code, 3, w.stderr);
    assert.match(w.stderr, /timeout/i);
    assert.ok(!["Canceled", "Failed"].includes(fake.jobs.get(job)!.status));
    fake.cancelJob(job);
  });

  it("a job failing in the score step: exit 1 with the step and the service's message", async () => {
    fake.nextJob = { breakModel: true };
    const { job } = await invoke();
    const w = await run("wait", [job]);
    assert.strictEqual(w.code, 1, w.stderr);
    assert.match(w.stderr, /Failed in step score/);
    assert.match(w.stderr, /error/i);
    const p = await run("pull", [job, "--out", path.join(work, "never")]);
    assert.strictEqual(p.code, 1);
    assert.ok(!fs.existsSync(path.join(work, "never")) || listFiles(path.join(work, "never")).length === 0);
  });

  it("a job canceled by someone else: exit 1, Canceled", async () => {
    fake.nextJob = { runningMs: 20_000 };
    const { job } = await invoke();
    setTimeout(() => fake.cancelJob(job), 1500);
    const w = await run("wait", [job]);
    assert.strictEqual(w.code, 1, w.stderr);
    assert.match(w.stderr, /ended Canceled/);
  });

  it("Ctrl-C with --cancel-on-interrupt cancels the job and exits 130", async () => {
    fake.nextJob = { runningMs: 20_000 };
    const { job } = await invoke();
    const w = await run("wait", [job, "--cancel-on-interrupt"], {}, (kill, err) => {
      const t = setInterval(() => {
        if (/Running/.test(err())) {
          clearInterval(t);
          kill("SIGINT");
        }
      }, 50);
    });
    assert.strictEqual(w.code, 130, w.stderr);
    assert.match(w.stderr, /cancel requested/);
    await fake.jobs.get(job)!.done;
    assert.strictEqual(fake.jobs.get(job)!.status, "Canceled");
  });

  it("an expired token: exit 4 with a sign-in hint, nothing uploaded or invoked", async () => {
    const n = fake.requests.length;
    const r = await run("invoke", ["--input", makeInput("fresh-expired", { "a.csv": SAMPLE })], { FAKE_AZ_TOKEN_LIFETIME: "-300" });
    assert.strictEqual(r.code, 4, r.stderr);
    assert.match(r.stderr, /401/);
    assert.match(r.stderr, /az login/);
    assert.strictEqual(fake.requests.slice(n).filter((q) => q.kind === "invoke").length, 0);
    const uploads = [];
    for await (const b of fake.blobs().getContainerClient(fake.containerName).listBlobsFlat({ prefix: "LocalUpload/" })) if (b.name.includes("fresh-expired")) uploads.push(b.name);
    assert.deepStrictEqual(uploads, []);
  });

  it("a token that expires during a long wait is refreshed (short-lived tokens), and the wait completes", async () => {
    fake.nextJob = { runningMs: 3000 };
    const { job } = await invoke();
    const before = az.calls().length;
    const w = await run("wait", [job], { FAKE_AZ_TOKEN_LIFETIME: "2" });
    ok(w, "wait with 2-second tokens");
    assert.ok(az.calls().length - before >= 3, `az asked ${az.calls().length - before} times`);
  });

  it("the same --invocation-id (flag or HEART_INVOCATION_ID) twice: one job, the second invoke finds it", async () => {
    const id = `retry-${Date.now()}`;
    const jobsBefore = fake.jobs.size;
    const invokes = fake.calls("invoke").length;
    const first = await invoke(["--invocation-id", id]);
    const second = await invoke([], { HEART_INVOCATION_ID: id });
    assert.strictEqual(fake.jobs.size, jobsBefore + 1, "exactly one job");
    assert.strictEqual(fake.calls("invoke").length - invokes, 1, "the endpoint was invoked once");
    assert.strictEqual(second.job, first.job);
    assert.match(second.r.stderr, /found the job already started/);
    ok(await run("wait", [first.job]), "wait");
  });

  it("run-pipeline with an earlier submission's --invocation-id GETs heart-<id> and does not PUT again", async () => {
    const id = `pipe-${Date.now()}`;
    const puts = fake.calls("job-put").length;
    const r1 = await run("run-pipeline", ["--input", input, "--invocation-id", id, "--out", path.join(work, "pipe-id-1")]);
    ok(r1, "first run-pipeline");
    const r2 = await run("run-pipeline", ["--input", input, "--out", path.join(work, "pipe-id-2")], { HEART_INVOCATION_ID: id });
    ok(r2, "second run-pipeline");
    assert.strictEqual(fake.calls("job-put").length - puts, 1, "one PUT");
    assert.ok(fake.calls("job-get").some((q) => q.path.endsWith(`/jobs/heart-${id}`)));
    assert.match(r2.stderr, new RegExp(`found the job already started heart-${id}`));
    assert.ok(fs.readFileSync(path.join(work, "pipe-id-2", "heart.csv")).equals(expectedScores));
  });

  it("run --out: a non-empty folder or a file is refused before any upload or job (exit 2)", async () => {
    const full = fs.mkdtempSync(path.join(work, "full-"));
    fs.writeFileSync(path.join(full, "old.csv"), "x\n");
    const file = path.join(work, "out-is-a-file");
    fs.writeFileSync(file, "x\n");
    const fresh = makeInput("out-check", { "a.csv": SAMPLE });
    const n = fake.requests.length;
    const r = await run("run", ["--input", fresh, "--out", full]);
    assert.strictEqual(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(`--out ${full} already exists and is not empty`), r.stderr);
    assert.match(r.stderr, /--force/);
    const f = await run("run-pipeline", ["--input", fresh, "--out", file]);
    assert.strictEqual(f.code, 2, f.stderr);
    assert.match(f.stderr, /is a file/);
    assert.strictEqual(fake.requests.length, n, "no service call");
    const uploads = [];
    for await (const b of fake.blobs().getContainerClient(fake.containerName).listBlobsFlat({ prefix: "LocalUpload/" })) if (b.name.includes("out-check")) uploads.push(b.name);
    assert.deepStrictEqual(uploads, []);
  });

  it("pull --out <an existing file>: exit 2 naming it", async () => {
    const file = path.join(work, "pull-out-file");
    fs.writeFileSync(file, "x\n");
    const n = fake.requests.length;
    const p = await run("pull", ["some-job", "--out", file]);
    assert.strictEqual(p.code, 2, p.stderr);
    assert.match(p.stderr, /--out .*pull-out-file.*is a file/);
    assert.strictEqual(fake.requests.length, n);
  });

  describe("bad input: exit 2, a clear message, before any upload or service call", () => {
    const cases: Array<[string, () => string[], RegExp]> = [
      ["missing folder", () => ["--input", path.join(work, "does-not-exist")], /does not exist/],
      ["empty folder", () => ["--input", makeInput("empty", {})], /is empty/],
      ["no CSV files", () => ["--input", makeInput("notes", { "a.txt": "x", "b.json": "{}" })], /no CSV file/],
      ["missing columns", () => ["--input", makeInput("cols", { "part.csv": "age,sex,cp\n1,0,1\n" })], /part\.csv.*(trestbps|missing)/s],
      ["unknown score mode", () => ["--input", input, "--score-mode", "everything"], /--score-mode must be one of append, prediction_only/],
      ["unsafe --invocation-id", () => ["--input", input, "--invocation-id", "a/../b c"], /--invocation-id .*'a\/\.\.\/b c' is not valid: use 1-128 letters/],
    ];
    for (const [name, args, message] of cases) {
      it(name, async () => {
        const n = fake.requests.length;
        const calls = az.calls().length;
        const r = await run("invoke", args());
        assert.strictEqual(r.code, 2, r.stderr);
        assert.match(r.stderr, message);
        assert.strictEqual(fake.requests.length, n, "no service call");
        assert.strictEqual(az.calls().length, calls, "no token asked");
      });
    }

    it("unsafe HEART_INVOCATION_ID for run-pipeline: exit 2, no service call", async () => {
      const n = fake.requests.length;
      const r = await run("run-pipeline", ["--input", input], { HEART_INVOCATION_ID: "../x" });
      assert.strictEqual(r.code, 2, r.stderr);
      assert.match(r.stderr, /HEART_INVOCATION_ID.*'\.\.\/x' is not valid/);
      assert.strictEqual(fake.requests.length, n);
    });

    it("unknown deployment: the known names, and no upload or invoke", async () => {
      const n = fake.requests.length;
      const r = await run("invoke", ["--input", makeInput("dep-check", { "a.csv": SAMPLE }), "--deployment", "nope"]);
      assert.strictEqual(r.code, 2, r.stderr);
      assert.match(r.stderr, /'nope' is not a deployment.*known: staging, uci-classifier-prepros-xgb/);
      assert.deepStrictEqual([...new Set(fake.requests.slice(n).map((q) => q.kind))].sort(), ["deployments-list", "endpoint-get"]);
    });

    it("missing configuration: lists each missing key and where it can come from", async () => {
      const n = fake.requests.length;
      const r = await run("invoke", ["--input", input], { HEART_STACK_OUTPUTS: undefined, HEART_WORKSPACE: undefined });
      assert.strictEqual(r.code, 2, r.stderr);
      assert.match(r.stderr, /missing configuration/);
      assert.match(r.stderr, /workspaceName: --workspace, env HEART_WORKSPACE, or stack output workspaceName/);
      assert.match(r.stderr, /endpointName/);
      assert.match(r.stderr, /install the pulumi CLI/);
      assert.strictEqual(fake.requests.length, n);
    });
  });

  it("reads the stack outputs from `pulumi stack output --json` when pulumi is on PATH", async () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "fake-pulumi-"));
    fs.writeFileSync(path.join(bin, "pulumi"), `#!/bin/sh\necho "$@" >> ${bin}/calls.log\ncat ${outputsFile}\n`, { mode: 0o755 });
    const r = await run("jobs", ["--stack", "dev"], { HEART_STACK_OUTPUTS: undefined, PATH: `${bin}${path.delimiter}${az.path}` });
    ok(r, "jobs");
    assert.strictEqual(fs.readFileSync(path.join(bin, "calls.log"), "utf8").trim(), "stack output --json --stack dev");
    fs.rmSync(bin, { recursive: true, force: true });
  });

  it("jobs lists the endpoint's running jobs and --cancel stops them (before pulumi destroy)", async () => {
    fake.nextJob = { runningMs: 30_000 };
    const { job } = await invoke();
    const l = await run("jobs", []);
    ok(l, "jobs");
    assert.match(l.stdout, new RegExp(job));
    const c = await run("jobs", ["--cancel", "--timeout", "30s"]);
    ok(c, "jobs --cancel");
    assert.strictEqual(fake.jobs.get(job)!.status, "Canceled");
    assert.ok(fake.calls("job-cancel").some((q) => q.path.endsWith(`/jobs/${job}/cancel`)));
    const after = await run("jobs", ["--json"]);
    assert.deepStrictEqual(JSON.parse(after.stdout), []);
  });

  it("run-pipeline submits the pipeline component as a standalone job and pulls its scores", async () => {
    const out = path.join(work, "pipeline-out");
    const r = await run("run-pipeline", ["--input", input, "--out", out]);
    ok(r, "run-pipeline");
    assert.ok(fs.readFileSync(path.join(out, "heart.csv")).equals(expectedScores));
    const put = fake.calls("job-put").pop()!;
    const p = (put.body as { properties: Record<string, any> }).properties;
    assert.strictEqual(p.jobType, "Pipeline");
    assert.strictEqual(p.experimentName, "uci-heart-score-pipeline");
    assert.strictEqual(p.componentId, fake.stackOutputs.pipelineComponentId);
    assert.match(p.settings.default_compute, /\/computes\/batch-cluster$/);
    assert.match(p.settings.default_datastore, /\/datastores\/workspaceblobstore$/);
    assert.strictEqual(p.inputs.score_mode.jobInputType, "literal");
    assert.match(p.outputs.scores.uri, /^azureml:\/\/datastores\/workspaceblobstore\/paths\/scores\/[0-9a-f-]+\/$/);
  });

  describe("--target local", () => {
    it("invoke → wait → pull on the local runner gives the same scores and exit codes", async () => {
      const i = await run("invoke", ["--target", "local", "--input", input]);
      ok(i, "invoke --target local");
      const id = i.stdout.trim();
      ok(await run("wait", ["--target", "local", id]), "wait --target local");
      const out = path.join(work, "local-out");
      ok(await run("pull", ["--target", "local", id, "--out", out]), "pull --target local");
      assert.ok(fs.readFileSync(path.join(out, "heart.csv")).equals(expectedScores));
      fs.writeFileSync(path.join(out, "heart.csv"), "edited\n");
      const p = await run("pull", ["--target", "local", id, "--out", out]);
      assert.strictEqual(p.code, 2);
      assert.strictEqual(fs.readFileSync(path.join(out, "heart.csv"), "utf8"), "edited\n");
    });

    it("run --out a non-empty folder: exit 2 before a run starts; --force lets it run", async () => {
      const out = fs.mkdtempSync(path.join(work, "local-full-"));
      fs.writeFileSync(path.join(out, "keep.txt"), "x\n");
      const runs = listFiles(path.join(work, "runs")).length;
      const r = await run("run", ["--target", "local", "--input", input, "--out", out]);
      assert.strictEqual(r.code, 2, r.stderr);
      assert.match(r.stderr, /not empty; nothing was started/);
      assert.strictEqual(listFiles(path.join(work, "runs")).length, runs, "no run folder");
      ok(await run("run", ["--target", "local", "--input", input, "--out", out, "--force"]), "run --force");
      assert.deepStrictEqual(listFiles(out), ["heart.csv", "keep.txt"]);
    });

    it("bad input is refused the same way (exit 2), and an unknown run id is exit 2", async () => {
      const r = await run("run", ["--target", "local", "--input", makeInput("cols2", { "x.csv": "age\n1\n" })]);
      assert.strictEqual(r.code, 2, r.stderr);
      assert.match(r.stderr, /x\.csv/);
      const w = await run("wait", ["--target", "local", "no-such-run"]);
      assert.strictEqual(w.code, 2, w.stderr);
    });
  });
});
