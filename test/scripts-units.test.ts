/** The scripts' pure pieces: invoke body, storage URIs, configuration order, safe pull, the wait schedule. */
import assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { invokeBody, jobNameFromAnswer } from "../scripts/lib/azure/invoke";
import { datastoreUri, parseStorageUri, scoresPath } from "../scripts/lib/azure/datastorePaths";
import { jobErrorOf, jobMatchesInvocation, runningEndpointJobs, summarizeJob } from "../scripts/lib/azure/jobs";
import { MAX_RETRY_AFTER_MS, parseRetryAfter, retryDelay } from "../scripts/lib/azure/retry";
import { resolveSettings, WorkspaceOptions } from "../scripts/lib/stackConfig";
import { parseCommandLine } from "../scripts/lib/cli";
import { defineCommand, invokeFlags, RUN_FLAGS, runOptionsOf, targetFlags, targetOptionsOf } from "../scripts/cli/flags";
import { pullFiles } from "../scripts/lib/pull/pullFiles";
import { localFolderSource } from "../scripts/lib/pull/sources";
import { waitForFinal } from "../scripts/lib/targets/waitLoop";
import { CliError, ExitCode } from "../scripts/lib/exitCodes";
import { blobServiceUrlOf } from "../lib/datastore";
import { armEndpoint, ARM_API_VERSION } from "../lib/armClient";

function folder(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "units-"));
  for (const [f, t] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), t);
  }
  return dir;
}

describe("scripts units", () => {
  it("invoke body: documented shape, scores output and invocation id", () => {
    const w = { subscriptionId: "s", resourceGroupName: "rg", workspaceName: "w" };
    const b = invokeBody({ inputUri: "azureml://datastores/ds/paths/in/", scoreMode: "append", scoresUri: datastoreUri("ds", scoresPath("abc")), invocationId: "abc", experimentName: "x" }, w);
    assert.deepStrictEqual(b, {
      properties: {
        InputData: { input_data: { JobInputType: "UriFolder", Uri: "azureml://datastores/ds/paths/in/" }, score_mode: { JobInputType: "Literal", Value: "append" } },
        OutputData: { scores: { JobOutputType: "UriFolder", Uri: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/datastores/ds/paths/scores/abc/" } },
        properties: { "heart.invocationId": "abc", experimentName: "x" },
      },
    });
    assert.strictEqual(jobNameFromAnswer({ id: "/x/batchEndpoints/e/jobs/j-1", properties: { name: "stoic_energy" } }), "j-1");
    assert.strictEqual(jobNameFromAnswer({ name: "j-2", id: "/x/jobs/other" }), "j-2");
  });

  it("storage URIs: short and long datastore forms, Azure and Azurite blob URLs", () => {
    assert.deepStrictEqual(parseStorageUri("azureml://datastores/workspaceblobstore/paths/scores/1"), { kind: "datastore", datastore: "workspaceblobstore", path: "scores/1/" });
    assert.deepStrictEqual(parseStorageUri("azureml://subscriptions/s/resourcegroups/rg/workspaces/w/datastores/d/paths/a/b/"), { kind: "datastore", datastore: "d", path: "a/b/" });
    assert.deepStrictEqual(parseStorageUri("https://acct.blob.core.windows.net/c/p/q"), { kind: "blob", blobServiceUrl: "https://acct.blob.core.windows.net", containerName: "c", path: "p/q/" });
    assert.deepStrictEqual(parseStorageUri("https://127.0.0.1:1000/devstoreaccount1/c/p"), { kind: "blob", blobServiceUrl: "https://127.0.0.1:1000/devstoreaccount1", containerName: "c", path: "p/" });
    const armForm = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/datastores/d/paths/scores/1/";
    assert.deepStrictEqual(parseStorageUri(armForm), { kind: "datastore", datastore: "d", path: "scores/1/" });
    assert.deepStrictEqual(parseStorageUri(`azureml:${armForm}`), { kind: "datastore", datastore: "d", path: "scores/1/" });
    assert.strictEqual(parseStorageUri("/datastores/d/paths/x"), undefined);
    assert.strictEqual(parseStorageUri("s3://x"), undefined);
  });

  it("datastore blob URL from the workspace's fields; HEART_BLOB_ENDPOINT overrides; ARM endpoint from env", () => {
    assert.strictEqual(blobServiceUrlOf({ accountName: "st1", endpoint: "core.chinacloudapi.cn", protocol: "https" }, {}), "https://st1.blob.core.chinacloudapi.cn");
    assert.strictEqual(blobServiceUrlOf({ accountName: "st1" }, { HEART_BLOB_ENDPOINT: "https://proxy/acct/" }), "https://proxy/acct");
    assert.strictEqual(armEndpoint({ env: {} }), "https://management.azure.com");
    assert.strictEqual(armEndpoint({ env: { HEART_ARM_ENDPOINT: "https://127.0.0.1:9/" } }), "https://127.0.0.1:9");
    assert.strictEqual(ARM_API_VERSION, "2025-12-01");
  });

  it("jobs: error and invocation matching read from the ARM job", () => {
    const j = summarizeJob({ name: "n", properties: { status: "Failed", properties: {}, outputs: { scores: { uri: "azureml://datastores/d/paths/scores/id-1/" } }, error: { code: "UserError", message: "boom", target: "score" } } });
    assert.deepStrictEqual(j.error, { message: "boom", step: "score", code: "UserError" });
    assert.ok(jobMatchesInvocation(j, "id-1"));
    assert.ok(!jobMatchesInvocation(j, "id-2"));
    assert.strictEqual(jobErrorOf({}), undefined);
    assert.strictEqual(parseRetryAfter("3"), 3000);
    assert.strictEqual(parseRetryAfter(new Date(Date.now() + 5000).toUTCString())! > 3000, true);
  });

  it("configuration: flag, then env, then stack outputs; missing keys listed with their sources", async () => {
    let asked = 0;
    const reader = async (o: { file?: string; stack?: string }) => {
      asked++;
      assert.deepStrictEqual([o.file, o.stack], ["outputs.json", "dev"]);
      return { outputs: { subscriptionId: "s-out", resourceGroupName: "rg-out", workspaceName: "ws-out" }, from: "test" };
    };
    // The edge reads flags and variables; resolveSettings knows only what was given and where the outputs are.
    const spec = defineCommand({ name: "t", summary: "", usage: "", flags: targetFlags(["subscriptionId", "resourceGroupName", "workspaceName"]) });
    const env = { HEART_SUBSCRIPTION_ID: "s-env", HEART_RESOURCE_GROUP: "rg-env", HEART_STACK_OUTPUTS: "outputs.json", HEART_PULUMI_STACK: "dev" };
    const { values } = parseCommandLine(spec, ["--subscription", "s-flag"], env);
    const target = targetOptionsOf(spec, values, env);
    assert.strictEqual(target.target, "azure");
    const workspace = (target as { workspace: WorkspaceOptions }).workspace;
    assert.deepStrictEqual(workspace, { given: { subscriptionId: "s-flag", resourceGroupName: "rg-env" }, stackOutputsFile: "outputs.json", stack: "dev" });
    const r = await resolveSettings(["subscriptionId", "resourceGroupName", "workspaceName"], [], { workspace, reader });
    assert.deepStrictEqual([r.subscriptionId, r.resourceGroupName, r.workspaceName], ["s-flag", "rg-env", "ws-out"]);
    const all = await resolveSettings(["subscriptionId"], [], { workspace: { given: { subscriptionId: "s" } }, reader });
    assert.strictEqual(all.subscriptionId, "s");
    assert.strictEqual(asked, 1, "stack outputs read only when something is missing");
    await assert.rejects(
      resolveSettings(["endpointName", "workspaceName"], [], { workspace: { given: {} }, env: {}, reader: async () => undefined }),
      (e: CliError) => e.exitCode === ExitCode.Usage && /endpointName: --endpoint, env HEART_ENDPOINT_NAME, or stack output endpointName/.test(e.message) && /workspaceName/.test(e.message),
    );
  });

  it("typed options: each command's flags parsed once into target, input, score mode, out, wait and workers", () => {
    const spec = defineCommand({
      name: "run",
      summary: "",
      usage: "",
      flags: { ...invokeFlags("endpoint"), ...RUN_FLAGS, ...targetFlags(["subscriptionId", "endpointName"], { workers: true }) },
    });
    const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => runOptionsOf("endpoint", spec, parseCommandLine(spec, argv, env).values, env);
    const local = parse(["--target", "local", "--input", "in", "--workers", "3", "--out", "o", "--timeout", "2m", "--force", "--runs-dir", "r"]);
    assert.deepStrictEqual(local, {
      kind: "endpoint",
      target: { target: "local", runsDir: path.resolve("r"), workers: 3 },
      invoke: { input: "in", scoreMode: "append", deployment: undefined, experiment: undefined, invocationId: undefined },
      wait: { timeoutMs: 120_000, cancelOnInterrupt: true },
      out: "o",
      force: true,
    });
    const azure = parse(["--input", "azureml://datastores/d/paths/x/", "--score-mode", "prediction_only", "--keep-on-interrupt"], { HEART_DEPLOYMENT: "blue", HEART_ENDPOINT_NAME: "ep", HEART_INVOCATION_ID: "id-1" });
    assert.deepStrictEqual(azure.invoke, { input: "azureml://datastores/d/paths/x/", scoreMode: "prediction_only", deployment: "blue", experiment: undefined, invocationId: "id-1" });
    assert.deepStrictEqual(azure.target, { target: "azure", workspace: { given: { endpointName: "ep" }, stackOutputsFile: undefined, stack: undefined } });
    assert.deepStrictEqual([azure.out, azure.wait], [undefined, { timeoutMs: undefined, cancelOnInterrupt: false }]);
    assert.deepStrictEqual(parse(["--target", "local"], { HEART_WORKERS: "2", HEART_RUNS_DIR: "r2" }).target, { target: "local", runsDir: path.resolve("r2"), workers: 2 });
    for (const [argv, message] of [
      [["--target", "cloud"], /--target must be azure or local \(got 'cloud'\)/],
      [["--target", "local", "--workers", "0"], /--workers must be a whole number of worker processes from 1 to 256 \(got '0'\)/],
      [["--target", "local", "--workers", "two"], /--workers must be a whole number/],
      [["--timeout", "soon"], /--timeout must be a duration/],
    ] as Array<[string[], RegExp]>) {
      assert.throws(() => parse(argv), (e: CliError) => e.exitCode === ExitCode.Usage && message.test(e.message), argv.join(" "));
    }
  });

  it("pull: temp + rename, identical files skipped, a conflict writes nothing, --force overwrites", async () => {
    const src = folder({ "a.csv": "1\n", "b.csv": "2\n", "sub/c.csv": "3\n" });
    const out = path.join(folder({}), "out");
    const r1 = await pullFiles(localFolderSource(src), out);
    assert.deepStrictEqual([r1.downloaded, r1.skipped, r1.files], [3, 0, ["a.csv", "b.csv", "sub/c.csv"]]);
    const r2 = await pullFiles(localFolderSource(src), out);
    assert.deepStrictEqual([r2.downloaded, r2.skipped], [0, 3]);
    fs.rmSync(path.join(out, "a.csv"));
    fs.writeFileSync(path.join(out, "b.csv"), "changed\n");
    await assert.rejects(pullFiles(localFolderSource(src), out), (e: CliError) => e.exitCode === ExitCode.Usage && /b\.csv/.test(e.message) && /nothing was written/.test(e.message));
    assert.ok(!fs.existsSync(path.join(out, "a.csv")), "nothing written on conflict");
    const r3 = await pullFiles(localFolderSource(src), out, { force: true });
    assert.strictEqual(fs.readFileSync(path.join(out, "b.csv"), "utf8"), "2\n");
    assert.strictEqual(r3.skipped, 1);
    assert.deepStrictEqual(fs.readdirSync(out).sort(), ["a.csv", "b.csv", "sub"], "no temp files left");
  });

  it("pull: a cut download is started again; one that keeps failing leaves no temp file and no partial folder", async () => {
    const attempts: Record<string, number> = {};
    const source = (failB: number) => ({
      describe: "flaky",
      list: async () => [{ name: "a.csv", size: 2 }, { name: "b.csv", size: 2 }],
      download: async (f: { name: string }, dest: string) => {
        attempts[f.name] = (attempts[f.name] ?? 0) + 1;
        fs.writeFileSync(dest, "x");
        if (f.name === "b.csv" && attempts[f.name] <= failB) throw Object.assign(new Error("The operation was aborted."), { name: "AbortError" });
        fs.appendFileSync(dest, "\n");
        return {};
      },
    });
    const out1 = path.join(folder({}), "out");
    const r = await pullFiles(source(1), out1, { concurrency: 1 });
    assert.deepStrictEqual([r.downloaded, attempts["b.csv"]], [2, 2]);
    const out2 = path.join(folder({}), "out");
    delete attempts["b.csv"];
    await assert.rejects(pullFiles(source(99), out2, { concurrency: 1 }), (e: CliError) => e.exitCode === ExitCode.Unavailable && /b\.csv/.test(e.message));
    assert.strictEqual(attempts["b.csv"], 3);
    assert.deepStrictEqual(fs.existsSync(out2) ? fs.readdirSync(out2) : [], []);
  });

  it("wait: backs off while nothing changes, resets on a change, honours the timeout", async () => {
    const seen: string[] = [];
    let calls = 0;
    const r = await waitForFinal({
      poll: async () => {
        calls++;
        const status = calls < 3 ? "Queued" : calls < 8 ? "Running" : "Completed";
        return { status, final: status === "Completed" };
      },
      intervalMs: 2,
      maxIntervalMs: 10,
      onStatus: (s) => seen.push(s),
    });
    assert.deepStrictEqual(seen, ["Queued", "Running", "Completed"]);
    assert.strictEqual(r.calls, 8);
    await assert.rejects(
      waitForFinal({ poll: async () => ({ status: "Running", final: false }), intervalMs: 5, maxIntervalMs: 20, timeoutMs: 100 }),
      (e: CliError) => e.exitCode === ExitCode.Timeout,
    );
    let failures = 0;
    await assert.rejects(
      waitForFinal({ poll: async () => { failures++; throw Object.assign(new Error("unavailable"), { statusCode: 503, name: "RestError" }); }, intervalMs: 1, maxIntervalMs: 2, maxFailures: 3 }),
      (e: CliError) => e.exitCode === ExitCode.Unavailable,
    );
    assert.strictEqual(failures, 4);
  });

  it("Retry-After beyond the backoff cap is honoured (up to 10 minutes); without it, the capped backoff", async () => {
    assert.strictEqual(retryDelay(undefined, 2000), 2000);
    assert.strictEqual(retryDelay(120_000, 60_000), 120_000);
    assert.strictEqual(retryDelay(500, 2000), 2000, "never sooner than our own backoff");
    assert.strictEqual(retryDelay(24 * 3600_000, 60_000), MAX_RETRY_AFTER_MS);

    // wait: a 429 with Retry-After: 120 and a 300 ms poll cap waits 120 s, not 300 ms.
    const ctl = new AbortController();
    const waits: number[] = [];
    const retryAfter120 = Object.assign(new Error("throttled"), {
      statusCode: 429,
      name: "RestError",
      response: { headers: { get: (n: string) => (n === "retry-after" ? "120" : undefined) } },
    });
    await assert.rejects(
      waitForFinal({
        poll: async () => { throw retryAfter120; },
        intervalMs: 100,
        maxIntervalMs: 300,
        signal: ctl.signal,
        onRetry: (_why, ms) => (waits.push(ms), setTimeout(() => ctl.abort(), 10)),
      }),
      (e: CliError) => e.exitCode === ExitCode.Interrupted,
    );
    assert.deepStrictEqual(waits, [120_000]);
  });

  it("jobs --cancel reads every page: a running endpoint job behind 1500 newer ones is found", async () => {
    const ws = { subscriptionId: "s", resourceGroupName: "rg", workspaceName: "w" };
    const job = (i: number, status: string, endpoint: string) => ({ name: `j${i}`, properties: { status, properties: { "azureml.endpointname": endpoint } } });
    let listed = 0;
    const client = {
      jobs: {
        list: async function* () {
          for (let i = 0; i < 1500; i++) (listed++, yield job(i, "Completed", "ep"));
          listed++;
          yield job(1500, "Running", "ep");
          listed++;
          yield job(1501, "Running", "other");
        },
      },
    };
    const found = await runningEndpointJobs(client as never, ws, "ep");
    assert.deepStrictEqual(found.map((j) => j.name), ["j1500"]);
    assert.strictEqual(listed, 1502);
  });
});
