/**
 * The local runner's own behaviour, on stand-in components (test/support/localFixtures.ts): step order,
 * bindings, the run folder and run.json, failure propagation, validation before anything runs, cancel.
 * The real pipeline is exercised in localPipeline.test.ts.
 */
import assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { makeStandinPipeline, StandinPipeline } from "./support/localFixtures";
import {
  failureMessage,
  LocalRunEvent,
  LocalRunInputError,
  LocalRunNotFoundError,
  LocalRunRecord,
  readLocalRun,
  listLocalRuns,
  resolvePython,
  runLocalPipeline,
  LocalRunOptions,
} from "../scripts/lib/local/runner";
import { newRunId, runIdProblem } from "../scripts/lib/local/runId";
import { pipelineInputEnum, shellQuote, withInterpreter } from "../scripts/lib/local/plan";
import { summarizeOutputFolder } from "../scripts/lib/local/outputFolder";
import { loadPipeline } from "../lib/componentYaml";
import { writeRunRecord } from "../scripts/lib/local/runRecord";
import { gnuTimeAvailable } from "../scripts/lib/local/stepProcess";

const PY = resolvePython();

describe("local runner (stand-in components)", function () {
  let p: StandinPipeline;
  const run = (inputs: LocalRunOptions["inputs"], extra: Partial<LocalRunOptions> = {}) =>
    runLocalPipeline({ inputs, pipelineFile: p.pipelineFile, modelsDir: p.modelsDir, runsDir: p.runsDir, ...extra });

  before(() => (p = makeStandinPipeline()));
  after(() => p.remove());

  describe("a successful run", () => {
    let record: LocalRunRecord;
    const events: LocalRunEvent[] = [];
    const seen: LocalRunRecord["status"][] = [];
    let torn = 0;

    before(async () => {
      const input = p.inputFolder("ok", { "a.csv": "x,y\n1,2\n", "b.csv": "q\n" });
      const runId = "standin-ok-1";
      // Poll run.json while the run goes: every read must parse (atomic writes) and statuses only move forward.
      const poll = setInterval(() => {
        try {
          seen.push(readLocalRun(p.runsDir, runId).status);
        } catch (e) {
          if (!(e instanceof LocalRunNotFoundError)) torn++;
        }
      }, 1);
      try {
        record = await run({ input_data: input, mode: "b" }, { runId, onEvent: (e) => events.push(e) });
      } finally {
        clearInterval(poll);
      }
    });

    it("completes every step, in dependency order although the YAML lists them the other way", () => {
      assert.strictEqual(record.status, "Completed");
      assert.deepStrictEqual(record.steps.map((s) => [s.name, s.status, s.exitCode]), [["first", "Completed", 0], ["second", "Completed", 0]]);
      assert.ok(record.steps[0].endedAt! <= record.steps[1].startedAt!);
      assert.strictEqual(record.error, undefined);
    });

    it("binds parent inputs, the previous step's output, the model folder, literals and defaults", () => {
      const result = record.outputs.result;
      assert.strictEqual(result, path.join(p.runsDir, "standin-ok-1", "outputs", "second", "result"));
      // second read first's output (upper-cased files), the model folder and the literal mode.
      assert.strictEqual(fs.readFileSync(path.join(result, "a.csv"), "utf8"), "b:w42:X,Y\n1,2\n");
      const info = JSON.parse(fs.readFileSync(path.join(result, "_second.json"), "utf8"));
      assert.strictEqual(info.mode, "b");
      assert.strictEqual(info.model, path.join(p.modelsDir, "standin-model"));
      assert.strictEqual(info.data, record.steps[0].outputs.out);
      assert.strictEqual(info.cwd, path.join(p.root, "components", "second", "src"));
      assert.strictEqual(info.first.tag, "x", "an unbound input takes the component default");
      assert.strictEqual(info.first.exe, PY, "python in the command is replaced by the resolved interpreter");
      assert.strictEqual(info.first.cwd, path.join(p.root, "components", "first", "src"));
    });

    it("records the exact command, with shell-quoted paths", () => {
      const cmd = record.steps[0].command;
      assert.ok(cmd.startsWith(`${PY} first.py --data '${path.join(p.root, "inputs", "ok")}' --tag x --out '`), cmd);
    });

    it("lays out the run folder: run.json, per-step logs, outputs per step", () => {
      const runDir = path.join(p.runsDir, "standin-ok-1");
      assert.strictEqual(record.runDir, runDir);
      assert.deepStrictEqual(fs.readdirSync(runDir).sort(), ["outputs", "run.json", "steps"]);
      assert.deepStrictEqual(fs.readdirSync(path.join(runDir, "steps")).sort(), ["first", "second"]);
      assert.strictEqual(record.steps[0].stdoutLog, path.join(runDir, "steps", "first", "stdout.log"));
      assert.match(fs.readFileSync(record.steps[0].stdoutLog, "utf8"), /first: wrote 2 files/);
      assert.strictEqual(fs.readFileSync(record.steps[0].stderrLog, "utf8"), "");
      assert.deepStrictEqual(fs.readdirSync(record.steps[0].outputs.out).sort(), ["_first.json", "a.csv", "b.csv"]);
      assert.deepStrictEqual(record.inputs, { input_data: path.join(p.root, "inputs", "ok"), mode: "b" });
      assert.ok(record.startedAt && record.endedAt && record.durationMs! >= 0);
    });

    it("run.json equals the returned record, and readers only ever saw whole files with statuses moving forward", () => {
      assert.deepStrictEqual(readLocalRun(p.runsDir, "standin-ok-1"), JSON.parse(JSON.stringify(record)));
      assert.strictEqual(torn, 0);
      const order = ["NotStarted", "Running", "Completed"];
      const idx = seen.map((s) => order.indexOf(s));
      assert.ok(idx.every((v, i) => v >= 0 && (i === 0 || v >= idx[i - 1])), seen.join(","));
      assert.ok(listLocalRuns(p.runsDir).includes("standin-ok-1"));
    });

    it("reports progress through the callback", () => {
      const kinds = events.filter((e) => e.type !== "step-output").map((e) => (e.type.startsWith("step") ? `${e.type}:${(e as { step: string }).step}` : e.type));
      assert.deepStrictEqual(kinds, ["run-started", "step-started:first", "step-finished:first", "step-started:second", "step-finished:second", "run-finished"]);
      assert.ok(events.some((e) => e.type === "step-output" && e.stream === "stdout" && e.line === "first: wrote 2 files"));
    });
  });

  it("writes a pipeline output into a caller-given folder, and refuses a non-empty one", async () => {
    const input = p.inputFolder("ok2", { "a.csv": "v\n" });
    const out = path.join(p.root, "given out");
    const r = await run({ input_data: input }, { outputs: { result: out } });
    assert.strictEqual(r.status, "Completed");
    assert.strictEqual(r.outputs.result, out);
    assert.strictEqual(fs.readFileSync(path.join(out, "a.csv"), "utf8"), "a:w42:V\n");
    await assert.rejects(run({ input_data: input }, { outputs: { result: out } }), (e: LocalRunInputError) => /not empty/.test(e.message));
  });

  it("stops at a step that refuses its input: Failed, kind input, the step's error line, later steps not started", async () => {
    const input = p.inputFolder("fail-first", { "a.csv": "x\n", FAIL_FIRST: "" });
    const r = await run({ input_data: input });
    assert.strictEqual(r.status, "Failed");
    assert.deepStrictEqual(r.error, { kind: "input", step: "first", exitCode: 2, message: "first.py: error: FAIL_FIRST: asked to fail" });
    assert.deepStrictEqual(r.steps.map((s) => s.status), ["Failed", "NotStarted"]);
    assert.strictEqual(r.steps[1].startedAt, undefined);
    assert.deepStrictEqual(fs.readdirSync(r.outputs.result), [], "the later step never ran");
    assert.match(fs.readFileSync(r.steps[0].stderrLog, "utf8"), /warning: something minor\n.*error: FAIL_FIRST/);
    assert.strictEqual(readLocalRun(p.runsDir, r.runId).status, "Failed");
  });

  it("reports any other step failure as kind step with the end of the traceback", async () => {
    const input = p.inputFolder("crash-second", { "a.csv": "x\n", CRASH_SECOND: "" });
    const r = await run({ input_data: input });
    assert.strictEqual(r.status, "Failed");
    assert.strictEqual(r.error?.kind, "step");
    assert.strictEqual(r.error?.step, "second");
    assert.strictEqual(r.error?.exitCode, 1);
    assert.match(r.error!.message, /RuntimeError: second crashed on purpose$/);
    assert.deepStrictEqual(r.steps.map((s) => s.status), ["Completed", "Failed"]);
  });

  it("refuses bad inputs before creating anything, listing every problem", async () => {
    const before = fs.existsSync(p.runsDir) ? fs.readdirSync(p.runsDir).sort() : [];
    const input = p.inputFolder("ok3", { "a.csv": "v\n" });
    await assert.rejects(
      run({ input_data: path.join(p.root, "nope"), mode: "zz", extra: "1" }, { modelsDir: path.join(p.root, "no-models"), runId: "../escape" }),
      (e: unknown) => {
        assert.ok(e instanceof LocalRunInputError);
        const text = e.problems.join("\n");
        assert.match(text, /run id '\.\.\/escape' is not valid/);
        assert.match(text, /unknown pipeline input 'extra' \(accepted: input_data, mode\)/);
        assert.match(text, /pipeline input 'input_data': folder .*nope does not exist/);
        assert.match(text, /pipeline input 'mode' \(bound to step 'second' input 'mode'\) must be one of a, b \(got 'zz'\)/);
        assert.match(text, /model azureml:standin-model@latest .*no-models\/standin-model, which does not exist/);
        return true;
      },
    );
    await assert.rejects(run({}), /pipeline input 'input_data' \(uri_folder\) is required/);
    await assert.rejects(run({ input_data: path.join(input, "a.csv") }), /is not a folder/);
    await assert.rejects(run({ input_data: input }, { python: "/nonexistent/python3" }), /Python interpreter \/nonexistent\/python3 does not exist/);
    assert.deepStrictEqual(fs.existsSync(p.runsDir) ? fs.readdirSync(p.runsDir).sort() : [], before);
    const first = await run({ input_data: input }, { runId: "dup-id" });
    assert.strictEqual(first.status, "Completed");
    await assert.rejects(run({ input_data: input }, { runId: "dup-id" }), /run id 'dup-id' is already used/);
  });

  it("cancels: kills the running step's process group, marks the run and step Canceled", async function () {
    const input = p.inputFolder("sleep", { "a.csv": "x\n", SLEEP_FIRST: "" });
    const controller = new AbortController();
    const started = Date.now();
    const pending = run({ input_data: input }, { signal: controller.signal, runId: "standin-cancel" });
    const marker = path.join(p.runsDir, "standin-cancel", "outputs", "first", "out", "started.txt");
    while (!fs.existsSync(marker) || fs.readFileSync(marker, "utf8") === "") {
      if (Date.now() - started > 10000) throw new Error("the sleeping step never started");
      await new Promise((r) => setTimeout(r, 20));
    }
    const pid = Number(fs.readFileSync(marker, "utf8"));
    controller.abort();
    const r = await pending;
    assert.ok(Date.now() - started < 8000, "cancel took too long");
    assert.strictEqual(r.status, "Canceled");
    assert.deepStrictEqual(r.steps.map((s) => s.status), ["Canceled", "NotStarted"]);
    assert.strictEqual(r.steps[0].signal, "SIGTERM");
    assert.throws(() => process.kill(pid, 0), /ESRCH/, "the Python process is gone");
    assert.strictEqual(readLocalRun(p.runsDir, "standin-cancel").status, "Canceled");
  });

  it("measures each step's peak memory and CPU time with GNU time when asked", async function () {
    if (!gnuTimeAvailable()) this.skip();
    const input = p.inputFolder("measure", { "a.csv": "v\n" });
    const r = await run({ input_data: input }, { measureResources: true });
    assert.strictEqual(r.status, "Completed");
    for (const s of r.steps) {
      assert.ok(s.peakRssKiB! > 1000 && s.peakRssKiB! < 1_000_000, `${s.name} peak ${s.peakRssKiB} KiB`);
      assert.ok(s.cpuMs! >= 0);
    }
    const plain = await run({ input_data: input });
    assert.strictEqual(plain.steps[0].peakRssKiB, undefined);
  });

  it("cancel falls back to SIGKILL for a step that ignores SIGTERM", async () => {
    const input = p.inputFolder("stubborn", { "a.csv": "x\n", SLEEP_FIRST: "", IGNORE_TERM: "" });
    const controller = new AbortController();
    const pending = run({ input_data: input }, { signal: controller.signal, runId: "standin-stubborn", killGraceMs: 300 });
    const marker = path.join(p.runsDir, "standin-stubborn", "outputs", "first", "out", "started.txt");
    for (let i = 0; !fs.existsSync(marker) || fs.readFileSync(marker, "utf8") === ""; i++) {
      assert.ok(i < 500, "the sleeping step never started");
      await new Promise((r) => setTimeout(r, 20));
    }
    controller.abort();
    const r = await pending;
    assert.strictEqual(r.status, "Canceled");
    assert.strictEqual(r.steps[0].signal, "SIGKILL");
  });

  it("an already-aborted signal ends the run Canceled without running a step", async () => {
    const input = p.inputFolder("ok4", { "a.csv": "v\n" });
    const r = await run({ input_data: input }, { signal: AbortSignal.abort() });
    assert.strictEqual(r.status, "Canceled");
    assert.deepStrictEqual(r.steps.map((s) => s.status), ["NotStarted", "NotStarted"]);
  });

  it("readLocalRun: unknown or invalid ids are not found; a run whose runner died is NotResponding", async () => {
    assert.throws(() => readLocalRun(p.runsDir, "no-such-run"), LocalRunNotFoundError);
    assert.throws(() => readLocalRun(p.runsDir, "../etc"), LocalRunNotFoundError);
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    const runDir = path.join(p.runsDir, "orphan");
    fs.mkdirSync(runDir, { recursive: true });
    const orphan: LocalRunRecord = {
      schemaVersion: 1, runId: "orphan", pipeline: "standin_pipeline", pipelineFile: p.pipelineFile, runDir,
      status: "Running", inputs: {}, outputs: {}, createdAt: new Date().toISOString(), steps: [],
      runner: { pid: Number(dead.stdout), host: os.hostname() },
    };
    await writeRunRecord(orphan);
    const r = readLocalRun(p.runsDir, "orphan");
    assert.strictEqual(r.status, "NotResponding");
    assert.strictEqual(r.error?.kind, "runner");
    await writeRunRecord({ ...orphan, runner: { pid: process.pid, host: os.hostname() } });
    assert.strictEqual(readLocalRun(p.runsDir, "orphan").status, "Running");
  });
});

describe("local runner helpers", () => {
  it("run ids sort by time and are valid; bad ids are refused", () => {
    const a = newRunId(new Date("2026-01-02T03:04:05.006Z"));
    const b = newRunId(new Date("2026-01-02T03:04:05.007Z"));
    assert.match(a, /^local-20260102-030405-006-[0-9a-f]{6}$/);
    assert.ok(a < b);
    assert.strictEqual(runIdProblem(a), undefined);
    for (const bad of ["", "../x", "a/b", "-x", "a b", "x".repeat(129)]) assert.ok(runIdProblem(bad), bad);
  });

  it("quotes shell words and swaps the interpreter only for a leading python word", () => {
    assert.strictEqual(shellQuote("/a/b_c-1.csv"), "/a/b_c-1.csv");
    assert.strictEqual(shellQuote("it's here"), `'it'\\''s here'`);
    assert.strictEqual(spawnSync("/bin/bash", ["-c", `printf %s ${shellQuote("a 'b' $HOME \"c\"")}`], { encoding: "utf8" }).stdout, "a 'b' $HOME \"c\"");
    assert.strictEqual(withInterpreter("python x.py --a python", "/opt/py 3/bin/python"), "'/opt/py 3/bin/python' x.py --a python");
    assert.strictEqual(withInterpreter("python3 x.py", "/usr/bin/python3"), "/usr/bin/python3 x.py");
    assert.strictEqual(withInterpreter("pythonic x.py", "/p"), "pythonic x.py");
  });

  it("resolves the interpreter from HEART_PYTHON, else /usr/bin/python3", () => {
    assert.strictEqual(resolvePython({ HEART_PYTHON: "/opt/p" }), "/opt/p");
    assert.strictEqual(resolvePython({ HEART_PYTHON: "" }), "/usr/bin/python3");
    assert.strictEqual(resolvePython({}), "/usr/bin/python3");
  });

  it("picks the meaningful stderr lines of a failure", () => {
    assert.strictEqual(failureMessage(["reading", "score.py: error: a.csv: column age: not a number", ""]), "score.py: error: a.csv: column age: not a number");
    const tb = ["Traceback (most recent call last):", '  File "x.py", line 1', "    boom()", "  ...", "    raise X", "KeyError: 'thal'"];
    assert.strictEqual(failureMessage(tb), tb.slice(-5).join("\n"));
    assert.strictEqual(failureMessage([]), "");
  });

  it("reads the accepted values of a pipeline input from the component it is bound to", () => {
    assert.deepStrictEqual(pipelineInputEnum(loadPipeline(), "score_mode"), ["append", "prediction_only"]);
    assert.strictEqual(pipelineInputEnum(loadPipeline(), "input_data"), undefined);
  });

  it("summarizes an output folder: CSV files by name with their data-row counts", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "heart-summary-"));
    try {
      fs.writeFileSync(path.join(dir, "b.csv"), "h\n1\n2\n");
      fs.writeFileSync(path.join(dir, "a.csv"), "h\n1\n2\n3"); // no final newline
      fs.writeFileSync(path.join(dir, "c.csv"), "h\n"); // header only
      fs.writeFileSync(path.join(dir, "notes.txt"), "x\n");
      fs.writeFileSync(path.join(dir, ".b.csv.1.partial"), "h\n1\n");
      fs.mkdirSync(path.join(dir, "sub"));
      fs.writeFileSync(path.join(dir, "sub", "d.csv"), "h\n1\n");
      const s = await summarizeOutputFolder(dir);
      assert.deepStrictEqual(s.files.map((f) => [f.name, f.rows]), [["a.csv", 3], ["b.csv", 2], ["c.csv", 0], ["sub/d.csv", 1]]);
      assert.strictEqual(s.rows, 6);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
