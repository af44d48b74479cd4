/**
 * The local parallel run (scripts/lib/local/parallel_driver.py under the runner) on stand-in parallel
 * components (test/support/localFixtures.ts): mini-batches over N worker processes, identical outputs for any
 * N, per-worker logs, retries after an exception, a dead worker and a timeout, the error threshold, missing
 * results, bad input, cancel. The real pipeline's parallel steps are exercised in localPipeline.test.ts.
 */
import assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { makeStandinParallelPipeline } from "./support/localFixtures";
import { LocalRunInputError, LocalRunOptions, LocalRunRecord, readLocalRun, runLocalPipeline } from "../scripts/lib/local/runner";

type Standin = ReturnType<typeof makeStandinParallelPipeline>;

function filesUnder(dir: string, prefix = ""): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]))
    .sort();
}

function contents(dir: string): Record<string, string> {
  return Object.fromEntries(filesUnder(dir).map((f) => [f, fs.readFileSync(path.join(dir, f), "utf8")]));
}

const workerLogs = (r: LocalRunRecord, step = 0): Record<string, string> => {
  const dir = r.steps[step].workerLogs!;
  return Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f), "utf8")]));
};

describe("local runner: parallel steps (stand-in components)", function () {
  this.timeout(120_000);
  const made: Standin[] = [];
  const standin = (firstNode: string[] = []) => {
    const p = makeStandinParallelPipeline(firstNode);
    made.push(p);
    return p;
  };
  const run = (p: Standin, inputs: LocalRunOptions["inputs"], extra: Partial<LocalRunOptions> = {}) =>
    runLocalPipeline({ inputs, pipelineFile: p.pipelineFile, modelsDir: p.modelsDir, runsDir: p.runsDir, env: { ...process.env, STANDIN_STATE: p.stateDir }, ...extra });
  after(() => made.forEach((p) => p.remove()));

  const SEVEN = Object.fromEntries(
    ["a.csv", "b.csv", "c.csv", "d.csv", "e.csv", "sub/f.csv", "sub/deeper/g.csv"].map((f, i) => [f, `row ${i}\n${"x".repeat(i * 10)}\n`]),
  );

  it("gives byte-identical outputs with 1, 2 and 3 workers, every file at its relative path", async () => {
    const p = standin();
    const input = p.inputFolder("seven", SEVEN);
    const results = [];
    for (const workers of [1, 2, 3]) {
      const r = await run(p, { input_data: input, mode: "b" }, { workers });
      assert.strictEqual(r.status, "Completed", r.error?.message);
      results.push(contents(r.outputs.result));
      assert.strictEqual(r.steps[0].workers, workers);
    }
    assert.deepStrictEqual(Object.keys(results[0]), Object.keys(SEVEN).sort());
    assert.strictEqual(results[0]["sub/deeper/g.csv"], `b:w42:x:ROW 6\n${"X".repeat(60)}\n`);
    assert.deepStrictEqual(results[1], results[0]);
    assert.deepStrictEqual(results[2], results[0]);
  });

  it("runs the driver with the step's settings (node over component) and records per-worker logs", async () => {
    const p = standin(["mini_batch_size: 1", "retry_settings: {max_retries: 1}"]);
    const input = p.inputFolder("logs", SEVEN);
    const r = await run(p, { input_data: input }, { workers: 2, runId: "logs-1" });
    assert.strictEqual(r.status, "Completed", r.error?.message);
    const cmd = r.steps[0].command;
    assert.match(cmd, /parallel_driver\.py --entry-script first\.py --input-data '[^']+' --mini-batch-size 1 --workers 2 --max-retries 1 --timeout 60 --mini-batch-error-threshold 0 --logging-level INFO --log-dir '[^']+' -- --data /);
    assert.strictEqual(r.steps[0].workerLogs, path.join(p.runsDir, "logs-1", "steps", "first", "workers"));
    const logs = workerLogs(r);
    assert.deepStrictEqual(Object.keys(logs), ["worker-0.log", "worker-1.log"]);
    for (const text of Object.values(logs)) assert.match(text, /first: init in pid \d+/);
    // Seven mini-batches of one file each, spread over the two workers, each run once.
    const ran = Object.values(logs).join("").match(/mini-batch \d+ done/g) ?? [];
    assert.strictEqual(ran.length, 7);
    assert.match(fs.readFileSync(r.steps[0].stderrLog, "utf8"), /first: 7 file\(s\) in 7 mini-batch\(es\) of up to 1, 2 worker\(s\)/);
    // The second step keeps its component's mini_batch_size (3): three mini-batches.
    assert.match(fs.readFileSync(r.steps[1].stderrLog, "utf8"), /second: 7 file\(s\) in 3 mini-batch\(es\) of up to 3/);
    assert.deepStrictEqual(readLocalRun(p.runsDir, "logs-1").steps[0].workerLogs, r.steps[0].workerLogs);
  });

  it("retries a mini-batch whose run() raised once, and one whose worker died, then completes", async () => {
    const p = standin();
    const input = p.inputFolder("retry", { "a.csv": "FAIL_ONCE\n", "b.csv": "fine\n", "c.csv": "CRASH_ONCE\n" });
    const r = await run(p, { input_data: input }, { workers: 2 });
    assert.strictEqual(r.status, "Completed", r.error?.message);
    assert.deepStrictEqual(Object.keys(contents(r.outputs.result)), ["a.csv", "b.csv", "c.csv"]);
    assert.strictEqual(fs.readFileSync(path.join(p.stateDir, "a.csv"), "utf8"), "2", "a.csv ran twice");
    assert.strictEqual(fs.readFileSync(path.join(p.stateDir, "c.csv"), "utf8"), "2", "c.csv ran twice");
    const logs = Object.values(workerLogs(r)).join("");
    assert.match(logs, /failed on attempt 1: RuntimeError: a\.csv: failing once on purpose; retrying/);
    assert.match(logs, /failed on attempt 1: WorkerExit: the worker process exited with code 3; retrying/);
    assert.match(fs.readFileSync(r.steps[0].stderrLog, "utf8"), /\(2 retried, 0 failed\)/);
  });

  it("aborts a mini-batch that passes retry_settings.timeout, restarts the worker and retries it", async () => {
    const p = standin(["retry_settings: {timeout: 2}"]);
    const input = p.inputFolder("slow", { "a.csv": "SLOW_ONCE\n" });
    const started = Date.now();
    const r = await run(p, { input_data: input }, { workers: 1 });
    assert.strictEqual(r.status, "Completed", r.error?.message);
    assert.ok(Date.now() - started < 25_000, "did not wait for the 30 s sleep");
    assert.match(Object.values(workerLogs(r)).join(""), /timed out after 2 s: killing worker 0[\s\S]*worker 0 started[\s\S]*mini-batch 0 done/);
  });

  it("fails the step once more mini-batches failed than mini_batch_error_threshold allows, leaving no output", async () => {
    const p = standin(["retry_settings: {max_retries: 1}"]);
    const input = p.inputFolder("threshold", { "a.csv": "ok\n", "b.csv": "ok\n", "c.csv": "ALWAYS_FAIL\n" });
    const r = await run(p, { input_data: input }, { workers: 2 });
    assert.strictEqual(r.status, "Failed");
    assert.deepStrictEqual(r.steps.map((s) => [s.status, s.exitCode]), [["Failed", 1], ["NotStarted", undefined]]);
    assert.strictEqual(r.error?.kind, "step");
    assert.match(r.error!.message, /^first: error: mini-batch 1 \(c\.csv\) failed 2 time\(s\), last with RuntimeError: c\.csv: always fails/);
    assert.deepStrictEqual(filesUnder(r.steps[0].outputs.out), [], "the completed mini-batch's files are removed too");
  });

  it("with a threshold that tolerates it, completes without the failed mini-batch's files and warns", async () => {
    const p = standin(["mini_batch_size: 1", "mini_batch_error_threshold: 1", "retry_settings: {max_retries: 0}"]);
    const input = p.inputFolder("tolerated", { "a.csv": "ok\n", "b.csv": "SKIP\n", "c.csv": "ok\n" });
    const r = await run(p, { input_data: input }, { workers: 2 });
    assert.strictEqual(r.status, "Completed", r.error?.message);
    assert.deepStrictEqual(Object.keys(contents(r.outputs.result)), ["a.csv", "c.csv"]);
    assert.match(fs.readFileSync(r.steps[0].stderrLog, "utf8"), /warning: first: mini-batch 1 \(b\.csv\) failed after 1 attempt\(s\) \(MissingResults: run\(\) returned 0 result\(s\) for 1 file\(s\)\); ignored/);
  });

  it("bad input: the step fails with exit 2, kind input, the entry script's message; nothing left, later steps not run", async () => {
    const p = standin();
    const input = p.inputFolder("bad", { "a.csv": "ok\n", "b.csv": "ok\n", "bad.csv": "BAD\n" });
    const r = await run(p, { input_data: input }, { workers: 2 });
    assert.strictEqual(r.status, "Failed");
    assert.deepStrictEqual(r.error, { kind: "input", step: "first", exitCode: 2, message: "first: error: bad.csv: column 'age' must be numeric, but data row 1 holds 'BAD'" });
    assert.deepStrictEqual(r.steps.map((s) => s.status), ["Failed", "NotStarted"]);
    assert.deepStrictEqual(filesUnder(path.join(r.runDir, "outputs")), []);
  });

  it("refuses a worker count that is not a whole number from 1 to 256 before anything runs", async () => {
    const p = standin();
    const input = p.inputFolder("w", { "a.csv": "ok\n" });
    for (const workers of [0, 1.5, 300]) {
      await assert.rejects(run(p, { input_data: input }, { workers }), (e: LocalRunInputError) => /workers must be a whole number from 1 to 256/.test(e.message));
    }
    assert.ok(!fs.existsSync(p.runsDir), "no run folder");
  });

  it("cancel: every worker stops, the run ends Canceled and the step's files are removed", async () => {
    const p = standin();
    const input = p.inputFolder("sleep", { "a.csv": "ok\n", "b.csv": "ok\n", "c.csv": "SLEEP\n" });
    const controller = new AbortController();
    const out = path.join(p.runsDir, "cancel-1", "outputs", "first", "out");
    const watcher = setInterval(() => fs.existsSync(path.join(out, "started.txt")) && controller.abort(), 20);
    let r: LocalRunRecord;
    try {
      r = await run(p, { input_data: input }, { workers: 2, runId: "cancel-1", signal: controller.signal, killGraceMs: 2000 });
    } finally {
      clearInterval(watcher);
    }
    assert.strictEqual(r.status, "Canceled");
    assert.deepStrictEqual(r.steps.map((s) => s.status), ["Canceled", "NotStarted"]);
    assert.deepStrictEqual(filesUnder(out), []);
  });
});
