/**
 * The scripts against a misbehaving service: the failing step of a failed job read from the run-history
 * children (and where to look when they cannot be read), `wait --timeout` holding while a status request hangs,
 * and the service's errors on each call the scripts make (4xx with its message, 429 with Retry-After, 5xx, a
 * request that never answers): a clear message, the documented exit code, nothing lost or half-started.
 * Subprocesses against the fake Azure ML service + Azurite (test/support/fakeAzureML.ts).
 */
import assert from "assert";
import { ARM_AUDIENCE, FakeAzureML, RouteKind, ScriptsHarness, assertOk, useScriptsHarness } from "./support/fakeAzureML";
import { untilAborted } from "../scripts/lib/targets/waitLoop";
import { markerPath } from "../scripts/lib/azure/invocationMarker";


describe("waitLoop.untilAborted (unit)", () => {
  it("rejects with the signal's reason when the promise never settles, and passes results through otherwise", async () => {
    const ac = new AbortController();
    const never = new Promise<string>(() => undefined);
    setTimeout(() => ac.abort(new Error("deadline")), 20);
    await assert.rejects(untilAborted(never, ac.signal), /deadline/);
    assert.strictEqual(await untilAborted(Promise.resolve("x"), new AbortController().signal), "x");
    await assert.rejects(untilAborted(Promise.reject(new Error("boom")), new AbortController().signal), /boom/);
    await assert.rejects(untilAborted(Promise.resolve("late"), ac.signal), /deadline/, "already aborted");
  });
});

describe("scripts vs a misbehaving service (fake Azure ML + Azurite)", function () {
  this.timeout(180_000);
  const harness = useScriptsHarness();
  let h: ScriptsHarness;
  let fake: FakeAzureML;
  let input: string;
  before(() => ({ h, fake, input } = harness));

  const ok = assertOk;
  async function invoke(): Promise<string> {
    const r = await h.run("invoke", ["--input", input]);
    ok(r, "invoke");
    return r.stdout.trim();
  }

  describe("a failed job: the failing step, the SDK's way", () => {
    it("wait names the step and its message from the run-history children; the ARM job has no error", async () => {
      fake.nextJob = { breakModel: true };
      const job = await invoke();
      const calls = fake.since();
      const w = await h.run("wait", [job]);
      assert.strictEqual(w.code, 1, w.stderr);
      const step = fake.jobs.get(job)!.steps.find((s) => s.status === "Failed")!;
      assert.strictEqual(step.displayName, "score");
      assert.ok(w.stderr.includes(`ended Failed in step score: ${step.error!.error.message.split("\n")[0]}`), w.stderr);
      assert.match(w.stderr, /details: https:\/\/ml\.azure\.com\/runs\//);
      assert.strictEqual(calls("discovery").length, 1, "the discovery document was read");
      const children = calls("run-children");
      assert.strictEqual(children.length, 1);
      assert.strictEqual(children[0].audience, ARM_AUDIENCE);
      assert.strictEqual(children[0].path, `/history/v1.0${fake.wsId}/runs/${job}/children`);
      assert.ok(calls("workspace-get").length === 1);
    });

    for (const [what, kind, status] of [
      ["the children are refused (403)", "run-children", 403],
      ["the workspace cannot be read (400)", "workspace-get", 400],
    ] as const) {
      it(`${what}: exit 1, the service's message, and where to look`, async () => {
        fake.nextJob = { breakModel: true };
        const job = await invoke();
        fake.fault(kind, { status, body: { error: { code: "Nope", message: `no access for this test (${kind})` } } }, 5);
        const w = await h.run("wait", [job]);
        assert.strictEqual(w.code, 1, w.stderr);
        assert.match(w.stderr, new RegExp(`ended Failed: the failing step could not be read \\(.*HTTP ${status}: no access for this test \\(${kind}\\)\\)`));
        assert.ok(w.stderr.includes(`see https://ml.azure.com/runs/${job}?wsid=`), w.stderr);
        assert.ok(w.stderr.includes(`'az ml job show --name ${job} --resource-group ${fake.resourceGroupName} --workspace-name ${fake.workspaceName}'`), w.stderr);
        assert.ok(w.stderr.includes(`'az ml job list --parent-job-name ${job} `), w.stderr);
      });
    }
  });

  it("wait --timeout 2s while every status request hangs: exit 3 on time", async () => {
    fake.nextJob = { runningMs: 30_000 };
    const job = await invoke();
    fake.fault("job-get", { hold: "unhandled" }, 50);
    const calls = fake.since();
    const w = await h.run("wait", [job, "--timeout", "2s"]);
    assert.strictEqual(w.code, 3, w.stderr);
    assert.match(w.stderr, /--timeout reached after 2s; the job is still unknown and keeps running/);
    const first = calls("job-get")[0];
    assert.ok(first, "a status request was made");
    // The timeout starts before the first status request, so the process ends within 2 s of it (plus exit time).
    const after = w.endedAt - first.at;
    assert.ok(after < 2000 + 1500, `ended ${after} ms after the first status request (whole run ${w.ms} ms)`);
    assert.notStrictEqual(fake.jobs.get(job)!.status, "Canceled", "the job keeps running");
  });

  it("invoke's request times out after the job was created: looks, finds it, one job (exit 0)", async () => {
    fake.fault("invoke", { hold: "handled" });
    const calls = fake.since();
    const jobs = fake.jobs.size;
    const r = await h.run("invoke", ["--input", input], { HEART_INVOKE_TIMEOUT_MS: "1500" });
    ok(r, "invoke");
    assert.strictEqual(fake.jobs.size, jobs + 1);
    assert.strictEqual(calls("invoke").length, 1, "not sent twice");
    assert.match(r.stderr, /no clear answer from the endpoint/);
    assert.ok(fake.jobs.has(r.stdout.trim()));
  });

  describe("4xx with the service's message: exit 2, nothing started", () => {
    const cases: Array<[RouteKind, string, string[]]> = [
      ["endpoint-get", "invoke", []],
      ["deployments-list", "invoke", ["--deployment", "staging"]],
      ["datastore-get", "invoke", []],
      ["invoke", "invoke", []],
      ["job-get", "wait", []],
      ["job-list", "jobs", []],
      ["job-put", "run-pipeline", []],
    ];
    for (const [kind, cli, extra] of cases) {
      it(`${kind} (${cli})`, async () => {
        const job = cli === "wait" ? await invoke() : undefined;
        const message = `the service refuses this (${kind}) for the test`;
        fake.fault(kind, { status: 400, body: { error: { code: "UserError", message } } }, 5);
        const jobs = fake.jobs.size;
        const calls = fake.since();
        const args = cli === "invoke" || cli === "run-pipeline" ? ["--input", input, ...extra] : job ? [job] : [];
        const r = await h.run(cli, args);
        assert.strictEqual(r.code, 2, r.stderr);
        assert.ok(r.stderr.includes(message), r.stderr);
        assert.strictEqual(fake.jobs.size, jobs, "no job started");
        if (kind !== "invoke") assert.strictEqual(calls("invoke").length, 0);
      });
    }
  });

  describe("429 with Retry-After: waited as told, then it works", () => {
    for (const [kind, cli] of [["endpoint-get", "invoke"], ["job-get", "wait"], ["job-list", "jobs"]] as const) {
      it(`${kind} (${cli})`, async () => {
        const job = cli === "wait" ? await invoke() : undefined;
        fake.fault(kind, { status: 429, retryAfter: 1 });
        const calls = fake.since();
        const r = await h.run(cli, cli === "invoke" ? ["--input", input] : job ? [job] : []);
        ok(r, cli);
        const [a, b] = calls(kind);
        assert.ok(b && b.at - a.at >= 950, `sent again after ${b ? b.at - a.at : "never"} ms`);
      });
    }
  });

  it("5xx that never stops (endpoint): exit 5 with the service's answer, nothing started", async () => {
    fake.fault("endpoint-get", { status: 503 }, 50);
    const jobs = fake.jobs.size;
    const r = await h.run("invoke", ["--input", input]);
    assert.strictEqual(r.code, 5, r.stderr);
    assert.match(r.stderr, /kept failing after retries \(HTTP 503: injected HTTP 503\)/);
    assert.strictEqual(fake.jobs.size, jobs);
  });

  it("403 on the endpoint: exit 4 with the service's message and which role is missing", async () => {
    fake.fault("endpoint-get", { status: 403, body: { error: { code: "AuthorizationFailed", message: "The client does not have authorization to perform action read" } } }, 5);
    const r = await h.run("invoke", ["--input", input]);
    assert.strictEqual(r.code, 4, r.stderr);
    assert.match(r.stderr, /HTTP 403: The client does not have authorization/);
    assert.match(r.stderr, /AzureML Data Scientist/);
  });

  it("the invocation cannot be recorded (marker blob leased by someone else): a warning, the job still starts once", async () => {
    const id = `leased-${Date.now()}`;
    const blob = fake.blobs().getContainerClient(fake.containerName).getBlockBlobClient(markerPath(id));
    await blob.upload("{}", 2);
    await blob.getBlobLeaseClient().acquireLease(-1);
    const calls = fake.since();
    const r = await h.run("invoke", ["--input", input, "--invocation-id", id]);
    ok(r, "invoke");
    assert.match(r.stderr, new RegExp(`warning: could not record invocation ${id} at workspaceblobstore/invocations/${id}\\.json`));
    assert.strictEqual(calls("invoke").length, 1);
    assert.ok(fake.jobs.get(r.stdout.trim())!.outputUri.includes(`/scores/${id}/`));
  });

  it("jobs --cancel refused (400): exit 2 with the message, the job untouched", async () => {
    fake.nextJob = { runningMs: 30_000 };
    const job = await invoke();
    fake.fault("job-cancel", { status: 400, body: { error: { code: "UserError", message: "cancel refused for the test" } } }, 5);
    const r = await h.run("jobs", ["--cancel", "--timeout", "20s"]);
    assert.strictEqual(r.code, 2, r.stderr);
    assert.match(r.stderr, /cancel refused for the test/);
    assert.notStrictEqual(fake.jobs.get(job)!.status, "Canceled");
  });
});
