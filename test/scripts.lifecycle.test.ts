/**
 * invoke in the real lifecycle: killed at every point around its request (before the service has it, while the
 * service holds it, after the answer), then re-run with the id it printed; and re-runs days later in a workspace
 * with a long history. Each ends with exactly one job for the invocation, found without listing the whole
 * workspace. Subprocesses against the fake Azure ML service + Azurite (test/support/fakeAzureML.ts).
 */
import assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { FakeAzureML, ScriptResult, ScriptsHarness, assertOk, SpawnedScript, useScriptsHarness } from "./support/fakeAzureML";
import { markerPath, parseMarker } from "../scripts/lib/azure/invocationMarker";
import { resumeCommand, resumeLine } from "../scripts/lib/azure/invoke";

const DAY = 24 * 3600_000;

describe("invoke: the printed id and the resume command (units)", () => {
  it("resumeCommand repeats this process's arguments with --invocation-id set, quoted for a shell", () => {
    const argv = ["node", "/repo/scripts/cli/invoke.ts", "--input", "my data/", "--invocation-id", "old", "--deployment=staging"];
    assert.strictEqual(resumeCommand("abc", argv, {}, "/repo"), "npx ts-node scripts/cli/invoke.ts --input 'my data/' --deployment=staging --invocation-id abc");
    assert.strictEqual(resumeCommand("abc", ["node", "/repo/scripts/cli/run.ts", "--invocation-id=x", "-i", "d"], { npm_lifecycle_event: "score" }, "/repo"), "npm run score -- -i d --invocation-id abc");
    const root = path.resolve(__dirname, "..");
    assert.strictEqual(resumeCommand("abc", ["node", path.join(root, "scripts/cli/run.ts"), "-i", "d"], {}, root), "node scripts/cli/launch.js run -i d --invocation-id abc", "the CLIs' launcher beside the script");
    assert.match(resumeLine("abc", "cmd"), /^invocation abc: sending the request; .*never starts a second job.*\n  cmd$/s);
  });

  it("parseMarker trusts only a well-formed marker of the same id", () => {
    const ok = { invocationId: "a", state: "created", sentAt: "2026-01-01T00:00:00.000Z", jobName: "j" };
    assert.deepStrictEqual(parseMarker(JSON.stringify(ok), "a"), ok);
    assert.strictEqual(parseMarker(JSON.stringify(ok), "b"), undefined, "another id");
    assert.strictEqual(parseMarker(JSON.stringify({ ...ok, jobName: undefined }), "a"), undefined, "created without a job name");
    assert.strictEqual(parseMarker(JSON.stringify({ ...ok, sentAt: "yesterday" }), "a"), undefined, "no time");
    assert.strictEqual(parseMarker("{not json", "a"), undefined);
    assert.strictEqual(markerPath("a"), "invocations/a.json");
  });
});

describe("invoke killed around its request, and re-run days later (fake Azure ML + Azurite)", function () {
  this.timeout(180_000);
  const harness = useScriptsHarness();
  let h: ScriptsHarness;
  let fake: FakeAzureML;
  let input: string;
  before(() => ({ h, fake, input } = harness));

  const ok = assertOk;

  /** The id and the resume command invoke printed before sending. */
  function printed(stderr: string): { id: string; command: string } {
    const m = /invocation ([A-Za-z0-9_-]+): sending the request;[^\n]*\n\s+(.+)/.exec(stderr);
    assert.ok(m, `no invocation id printed before the request:\n${stderr}`);
    return { id: m[1], command: m[2] };
  }

  function jobsOf(id: string): string[] {
    return [...fake.jobs.values()].filter((j) => j.outputUri.includes(`/scores/${id}/`)).map((j) => j.name);
  }

  async function marker(id: string) {
    const buf = await fake.blobs().getContainerClient(fake.containerName).getBlockBlobClient(markerPath(id)).downloadToBuffer().catch(() => undefined);
    return buf ? parseMarker(buf.toString("utf8"), id) : undefined;
  }

  async function setMarker(id: string, m: Record<string, unknown>): Promise<void> {
    const text = JSON.stringify({ invocationId: id, ...m });
    await fake.blobs().getContainerClient(fake.containerName).getBlockBlobClient(markerPath(id)).upload(text, text.length);
  }

  /** Starts invoke and kills it with `sig` once `when` holds (checked every 50 ms). */
  function invokeKilledWhen(when: () => boolean, sig: NodeJS.Signals, extra: Record<string, string> = {}): Promise<ScriptResult> {
    return h.run("invoke", ["--input", input], extra, (p: SpawnedScript) => {
      const t = setInterval(() => {
        if (when()) {
          clearInterval(t);
          p.kill(sig);
        }
      }, 50);
    });
  }


  it("killed before an id exists (endpoint lookup hanging): nothing is started", async () => {
    fake.fault("endpoint-get", { hold: "unhandled" });
    const calls = fake.since();
    const jobs = fake.jobs.size;
    const r = await invokeKilledWhen(() => calls("endpoint-get").length > 0, "SIGKILL");
    assert.strictEqual(r.signal, "SIGKILL");
    assert.doesNotMatch(r.stderr, /sending the request/);
    assert.strictEqual(calls("invoke").length, 0);
    assert.strictEqual(fake.jobs.size, jobs);
  });

  it("killed while the request has not reached the service: the re-run with the printed id sends it, one job", async () => {
    fake.fault("invoke", { hold: "unhandled" });
    const calls = fake.since();
    const killed = await invokeKilledWhen(() => calls("invoke").length > 0, "SIGKILL");
    assert.strictEqual(killed.signal, "SIGKILL");
    const { id, command } = printed(killed.stderr);
    assert.ok(command.includes(`--input ${input}`) && command.endsWith(`--invocation-id ${id}`), command);
    assert.deepStrictEqual(jobsOf(id), [], "the service never acted on the request");
    assert.strictEqual((await marker(id))?.state, "sending", "the send was recorded before the request left");

    const again = fake.since();
    const r = await h.runCommand(command); // exactly as printed
    ok(r, "re-run");
    assert.deepStrictEqual(jobsOf(id), [r.stdout.trim()], "exactly one job");
    assert.strictEqual(again("invoke").length, 1);
    assert.deepStrictEqual(await marker(id), { invocationId: id, state: "created", sentAt: (await marker(id))!.sentAt, jobName: r.stdout.trim() });
  });

  for (const [sig, copied] of [["SIGKILL", true], ["SIGINT", false]] as const) {
    it(`${sig === "SIGINT" ? "Ctrl-C" : "killed"} while the service holds the answer (job created${copied ? "" : ", properties not copied"}): the re-run finds that job`, async () => {
      fake.copyInvokeProperties = copied;
      fake.fault("invoke", { hold: "handled" });
      const before = new Set(fake.jobs.keys());
      const calls = fake.since();
      const killed = await invokeKilledWhen(() => fake.jobs.size > before.size, sig);
      if (sig === "SIGINT") assert.strictEqual(killed.code, 130, killed.stderr);
      else assert.strictEqual(killed.signal, "SIGKILL");
      const { id } = printed(killed.stderr);
      const created = jobsOf(id);
      assert.strictEqual(created.length, 1);
      assert.strictEqual(calls("invoke").length, 1);

      const again = fake.since();
      const r = await h.run("invoke", ["--input", input], { HEART_INVOCATION_ID: id });
      ok(r, "re-run");
      assert.strictEqual(r.stdout.trim(), created[0]);
      assert.match(r.stderr, /found the job already started/);
      assert.strictEqual(again("invoke").length, 0, "not sent again");
      assert.deepStrictEqual(jobsOf(id), created, "exactly one job");
      const lists = again("job-list");
      assert.ok(lists[0]?.query.properties === `heart.invocationId=${id}`, "the service-side filter first");
      if (copied) assert.strictEqual(lists.length, 1, "one filtered request, no scan");
      assert.strictEqual((await marker(id))?.jobName, created[0], "the marker now names the job");
    });
  }

  it("after the answer: the re-run GETs the job the marker names, and lists nothing", async () => {
    const first = await h.run("invoke", ["--input", input]);
    ok(first, "invoke");
    const { id } = printed(first.stderr);
    const again = fake.since();
    const r = await h.run("invoke", ["--input", input, "--invocation-id", id]);
    ok(r, "re-run");
    assert.strictEqual(r.stdout.trim(), first.stdout.trim());
    assert.deepStrictEqual(again("job-list"), []);
    assert.ok(again("job-get").some((q) => q.path.endsWith(`/jobs/${first.stdout.trim()}`)));
    assert.strictEqual(again("invoke").length, 0);
    assert.deepStrictEqual(jobsOf(id), [first.stdout.trim()]);
  });

  it("three days later, a busy workspace: found by the marker's job name, whatever its age, no list", async () => {
    const first = await h.run("invoke", ["--input", input]);
    ok(first, "invoke");
    const { id } = printed(first.stderr);
    const job = first.stdout.trim();
    await fake.jobs.get(job)!.done;
    fake.ageJob(job, 3 * DAY);
    const m = (await marker(id))!;
    await setMarker(id, { ...m, sentAt: new Date(Date.parse(m.sentAt) - 3 * DAY).toISOString() });
    fake.addFinishedJobs(45);
    const again = fake.since();
    const r = await h.run("invoke", ["--input", input, "--invocation-id", id]);
    ok(r, "re-run");
    assert.strictEqual(r.stdout.trim(), job);
    assert.deepStrictEqual(again("job-list"), []);
    assert.strictEqual(again("invoke").length, 0);
  });

  it("answer lost three days ago, properties not copied: the scan reads back to the send and no further", async () => {
    fake.copyInvokeProperties = false;
    fake.fault("invoke", { hold: "handled" });
    const before = fake.jobs.size;
    const killed = await invokeKilledWhen(() => fake.jobs.size > before, "SIGKILL");
    const { id } = printed(killed.stderr);
    const [job] = jobsOf(id);
    await fake.jobs.get(job)!.done;
    fake.ageJob(job, 3 * DAY);
    const m = (await marker(id))!;
    assert.strictEqual(m.state, "sending");
    await setMarker(id, { ...m, sentAt: new Date(Date.parse(m.sentAt) - 3 * DAY).toISOString() });
    fake.addFinishedJobs(30, 5 * DAY); // older than the send: must not be read
    fake.addFinishedJobs(45); // newer
    const total = fake.jobs.size;
    const again = fake.since();
    const r = await h.run("invoke", ["--input", input, "--invocation-id", id]);
    ok(r, "re-run");
    assert.strictEqual(r.stdout.trim(), job);
    assert.deepStrictEqual(jobsOf(id), [job]);
    const unfiltered = again("job-list").filter((q) => !q.query.properties);
    assert.ok(unfiltered.length >= 3, `scanned ${unfiltered.length} pages`);
    assert.ok(unfiltered.length < Math.ceil(total / 20), `read ${unfiltered.length} pages of ${Math.ceil(total / 20)}: the scan went past the send`);
  });

  it("a send recorded two days ago that never reached the service: the scan stops at the send, then one job", async () => {
    fake.copyInvokeProperties = false;
    const id = `lost-${Date.now()}`;
    await setMarker(id, { state: "sending", sentAt: new Date(Date.now() - 2 * DAY).toISOString() });
    fake.addFinishedJobs(30, 4 * DAY);
    const total = fake.jobs.size;
    const again = fake.since();
    const r = await h.run("invoke", ["--input", input, "--invocation-id", id]);
    ok(r, "re-run");
    assert.deepStrictEqual(jobsOf(id), [r.stdout.trim()], "exactly one job");
    assert.strictEqual(again("invoke").length, 1);
    const unfiltered = again("job-list").filter((q) => !q.query.properties);
    assert.ok(unfiltered.length < Math.ceil(total / 20), `read ${unfiltered.length} pages of ${Math.ceil(total / 20)}`);
  });

  it("run-pipeline prints the id and its resume command before the PUT", async () => {
    fake.fault("job-put", { hold: "handled" });
    const calls = fake.since();
    const killed = await h.run("run-pipeline", ["--input", input, "--out", path.join(h.work, "pipe-killed")], {}, (p) => {
      const t = setInterval(() => {
        if (calls("job-put").length > 0) {
          clearInterval(t);
          p.kill("SIGKILL");
        }
      }, 50);
    });
    const { id, command } = printed(killed.stderr);
    assert.match(command, /launch\.js run-pipeline .*--invocation-id /);
    const r = await h.run("run-pipeline", ["--input", input, "--out", path.join(h.work, "pipe-resumed"), "--invocation-id", id]);
    ok(r, "resumed run-pipeline");
    assert.strictEqual(calls("job-put").length, 1, "one PUT");
    assert.ok(fs.existsSync(path.join(h.work, "pipe-resumed", "heart.csv")));
  });
});
