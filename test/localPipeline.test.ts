/**
 * The real pipeline (components/*.yml, the Python steps, the committed models) run locally through the CLI
 * and the runner: both score modes on the sample data, several files, dirty and edge-case rows, each bad
 * input with its message and exit code, Ctrl-C. Runs are shared between assertions to keep this quick.
 */
import assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REQUIRED_COLUMNS } from "../scripts/lib/local/inputFolder";
import { LocalRunRecord, readLocalRun, REPO_ROOT, runLocalPipeline } from "../scripts/lib/local/runner";

const CLI = path.join(REPO_ROOT, "scripts", "cli", "local-run.ts");
const SAMPLE = path.join(REPO_ROOT, "data", "unlabeled");
const EDGE_CASES = path.join(REPO_ROOT, "data", "edge-cases");

/** RFC 4180 CSV → rows of cells (quoted cells unquoted), enough to compare what pandas writes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") row.push(cell), (cell = "");
    else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(cell), rows.push(row), (row = []), (cell = "");
    } else cell += ch;
  }
  if (cell !== "" || row.length > 0) row.push(cell), rows.push(row);
  return rows;
}

interface Table {
  header: string[];
  rows: string[][];
  column(name: string): string[];
}
function readTable(file: string): Table {
  const text = fs.readFileSync(file, "utf8").replace(/^\uFEFF/, "");
  const [header, ...rows] = parseCsv(text).filter((r, i) => i === 0 || !(r.length === 1 && r[0] === "")); // pandas skips blank lines
  return {
    header,
    rows,
    column(name) {
      const i = header.indexOf(name);
      assert.ok(i >= 0, `${file} has no column ${name}`);
      return rows.map((r) => r[i]);
    },
  };
}

/** Every file under a folder, relative, sorted (hidden ones too: none may be left behind). */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}

interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs local-run as a user would (own process); several may run at once. */
function cli(args: string[]): Promise<CliResult> {
  const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", CLI, ...args], { cwd: REPO_ROOT });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c) => (stdout += c));
  child.stderr.on("data", (c) => (stderr += c));
  return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
}

describe("local pipeline (real components and models)", function () {
  this.timeout(120000);
  let root: string;
  let runsDir: string;
  const folder = (name: string, files: Record<string, string>) => {
    const dir = path.join(root, "inputs", name);
    for (const [f, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), text);
    }
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  };
  const sample = readTable(path.join(SAMPLE, "heart.csv"));
  const sampleLines = fs.readFileSync(path.join(SAMPLE, "heart.csv"), "utf8").trimEnd().split(/\r?\n/);

  before(function () {
    for (const need of ["components/prepare/src/prepare.py", "components/score/src/score.py", "models/heart-classifier/MLmodel", "models/heart-classifier-transforms"]) {
      assert.ok(fs.existsSync(path.join(REPO_ROOT, need)), `${need} is missing`);
    }
    root = fs.mkdtempSync(path.join(os.tmpdir(), "heart-localpipe-"));
    runsDir = path.join(root, "runs");
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  describe("the sample data through the CLI", () => {
    let append: { out: CliResult; json: { runId: string; status: string; scores: string; files: { name: string; rows: number }[]; rows: number } };
    let predictionOnly: CliResult;
    before(async () => {
      const [out, only] = await Promise.all([
        cli(["--input", "data/unlabeled", "--runs-dir", runsDir, "--json"]),
        cli(["--input", SAMPLE, "--score-mode", "prediction_only", "--runs-dir", runsDir, "--output", path.join(root, "chosen output"), "--workers", "1"]),
      ]);
      append = { out, json: JSON.parse(out.stdout || "{}") };
      predictionOnly = only;
    });

    it("append: exit 0, one scores file, every row in input order with the input columns verbatim and a 0/1 prediction", () => {
      assert.strictEqual(append.out.status, 0, append.out.stderr);
      const { json } = append;
      assert.strictEqual(json.status, "Completed");
      assert.deepStrictEqual(json.files, [{ name: "heart.csv", rows: 304 }]);
      assert.strictEqual(json.rows, 304);
      assert.strictEqual(json.scores, path.join(runsDir, json.runId, "outputs", "score", "scores"));
      assert.deepStrictEqual(filesUnder(json.scores), ["heart.csv"]);
      const scored = readTable(path.join(json.scores, "heart.csv"));
      assert.deepStrictEqual(scored.header, [...REQUIRED_COLUMNS, "prediction"]);
      assert.strictEqual(scored.rows.length, 304);
      assert.deepStrictEqual(scored.rows.map((r) => r.slice(0, -1)), sample.rows, "input columns verbatim, input order");
      const text = fs.readFileSync(path.join(json.scores, "heart.csv"), "utf8").trimEnd().split("\n");
      assert.deepStrictEqual(text.map((l) => l.slice(0, l.lastIndexOf(","))), sampleLines, "byte-for-byte input cells");
      const predictions = scored.column("prediction");
      assert.ok(predictions.every((p) => p === "0" || p === "1"), "predictions are 0/1");
      assert.ok(predictions.includes("0") && predictions.includes("1"), "both classes occur");
      assert.match(append.out.stderr, /\[prepare\] Completed/);
      assert.match(append.out.stderr, /304 rows scored in 1 file/);
    });

    it("scores the dirty public rows (cp = 0, thal written as a number)", () => {
      const scored = readTable(path.join(append.json.scores, "heart.csv"));
      const cp = scored.column("cp");
      const thal = scored.column("thal");
      const dirty = scored.rows.filter((_r, i) => cp[i] === "0" || !["fixed", "normal", "reversible"].includes(thal[i]));
      assert.ok(dirty.length >= 4, `expected the dirty rows, found ${dirty.length}`);
      for (const r of dirty) assert.match(r[r.length - 1], /^[01]$/);
    });

    it("without --json prints only the scores folder (here the --output folder) on stdout", () => {
      assert.strictEqual(predictionOnly.status, 0, predictionOnly.stderr);
      assert.strictEqual(predictionOnly.stdout, `${path.join(root, "chosen output")}\n`);
      const runId = /run (\S+) started/.exec(predictionOnly.stderr)![1];
      assert.deepStrictEqual(readLocalRun(runsDir, runId).steps.map((st) => st.workers), [1, 1], "--workers reaches both parallel steps");
      assert.deepStrictEqual(filesUnder(path.join(root, "chosen output")), ["heart.csv"]);
    });

    it("prediction_only: just the prediction column, same predictions as append", () => {
      const only = readTable(path.join(root, "chosen output", "heart.csv"));
      assert.deepStrictEqual(only.header, ["prediction"]);
      assert.deepStrictEqual(only.column("prediction"), readTable(path.join(append.json.scores, "heart.csv")).column("prediction"));
    });

    it("leaves a run folder with run.json Completed and both steps' logs", () => {
      const run = readLocalRun(runsDir, append.json.runId);
      assert.strictEqual(run.status, "Completed");
      assert.deepStrictEqual(run.steps.map((s) => [s.name, s.status, s.exitCode]), [["prepare", "Completed", 0], ["score", "Completed", 0]]);
      assert.deepStrictEqual(run.inputs, { input_data: SAMPLE, score_mode: "append" });
      assert.match(fs.readFileSync(run.steps[1].stderrLog, "utf8"), /score: heart\.csv: 304 rows/);
      // A parallel step: the driver runs prepare.py's init()/run() with the component's program arguments.
      const python = process.env.HEART_PYTHON || "/usr/bin/python3";
      assert.ok(run.steps[0].command.startsWith(`${python} ${path.join(REPO_ROOT, "scripts", "lib", "local", "parallel_driver.py")} --entry-script prepare.py --input-data ${SAMPLE} --mini-batch-size 1 `), run.steps[0].command);
      assert.match(run.steps[0].command, new RegExp(` -- --data ${SAMPLE} --transformations ${path.join(REPO_ROOT, "models", "heart-classifier-transforms")} --prepared_data `));
      assert.ok(fs.readdirSync(run.steps[1].workerLogs!).length >= 1, "per-worker logs");
    });

    it("a folder of several files (and a sub-folder): one scores file each, same names, same predictions as one file", async () => {
      const header = sampleLines[0];
      const body = sampleLines.slice(1);
      const input = folder("several", {
        "first.csv": [header, ...body.slice(0, 100)].join("\n") + "\n",
        "second.csv": [header, ...body.slice(100, 250)].join("\n") + "\n",
        "more/third.csv": [header, ...body.slice(250)].join("\n"),
        "readme.txt": "not data",
      });
      const r = await runLocalPipeline({ inputs: { input_data: input, score_mode: "prediction_only" }, runsDir });
      assert.strictEqual(r.status, "Completed", r.error?.message);
      assert.deepStrictEqual(filesUnder(r.outputs.scores), ["first.csv", "more/third.csv", "second.csv"]);
      const joined = ["first.csv", "second.csv", "more/third.csv"].flatMap((f) => readTable(path.join(r.outputs.scores, f)).column("prediction"));
      assert.deepStrictEqual(joined, readTable(path.join(root, "chosen output", "heart.csv")).column("prediction"), "same as the one-file run");
      assert.deepStrictEqual(["first.csv", "second.csv", "more/third.csv"].map((f) => readTable(path.join(r.outputs.scores, f)).rows.length), [100, 150, 54]);
      assert.match(fs.readFileSync(r.steps[0].stderrLog, "utf8"), /warning: skipping readme\.txt/);
    });

    it("several files with 1, 2 and 3 workers: byte-identical scores, the same as today's one-process scores", async () => {
    const header = sampleLines[0];
    const body = sampleLines.slice(1);
    const files: Record<string, string> = {};
    for (let i = 0; i < 6; i++) files[`${i < 3 ? "" : "batch-2/"}part-${i}.csv`] = [header, ...body.slice(i * 50, i * 50 + 50 + (i === 5 ? 4 : 0))].join("\n") + "\n";
    const input = folder("workers", files);
    const bytes: Record<string, string>[] = [];
    for (const workers of [1, 2, 3]) {
      const r = await runLocalPipeline({ inputs: { input_data: input, score_mode: "append" }, runsDir, workers });
      assert.strictEqual(r.status, "Completed", r.error?.message);
      assert.strictEqual(r.steps[0].workers, workers);
      bytes.push(Object.fromEntries(filesUnder(r.outputs.scores).map((f) => [f, fs.readFileSync(path.join(r.outputs.scores, f), "latin1")])));
    }
    assert.deepStrictEqual(Object.keys(bytes[0]), Object.keys(files).sort());
    assert.deepStrictEqual(bytes[1], bytes[0]);
    assert.deepStrictEqual(bytes[2], bytes[0]);
    // Rows in input order: the files' predictions, in part order, are the one-file run's (304 rows of the sample).
    const order = Object.keys(files).sort((a, b) => Number(/part-(\d)/.exec(a)![1]) - Number(/part-(\d)/.exec(b)![1]));
    const predictions = order.flatMap((f) => {
      const [head, ...rows] = parseCsv(bytes[0][f]);
      return rows.map((r) => r[head.indexOf("prediction")]);
    });
    assert.deepStrictEqual(predictions, readTable(path.join(append.json.scores, "heart.csv")).column("prediction"));
  });
  });

  it("data/edge-cases: unseen values and missing cells are scored, every row, every file", async function () {
    if (!fs.existsSync(EDGE_CASES)) this.skip();
    const r = await runLocalPipeline({ inputs: { input_data: EDGE_CASES }, runsDir });
    assert.strictEqual(r.status, "Completed", r.error?.message);
    const inputs = filesUnder(EDGE_CASES).filter((f) => /\.csv$/i.test(f) && !path.basename(f).startsWith("."));
    assert.ok(inputs.length >= 2);
    assert.deepStrictEqual(filesUnder(r.outputs.scores), inputs);
    for (const f of inputs) {
      const input = readTable(path.join(EDGE_CASES, f));
      const scored = readTable(path.join(r.outputs.scores, f));
      assert.strictEqual(scored.rows.length, input.rows.length, f);
      assert.ok(scored.column("prediction").every((p) => p === "0" || p === "1"), f);
      assert.deepStrictEqual(scored.rows.map((row) => row.slice(0, -1)), input.rows, `${f}: input cells kept`);
    }
    assert.match(fs.readFileSync(r.steps[0].stderrLog, "utf8"), /unseen-values\.csv: column 'cp' value '7'/);
  });

  describe("bad input", () => {
    const goodHeader = REQUIRED_COLUMNS.join(",");
    const runsBefore = () => filesUnder(runsDir).length;

    it("refuses an empty folder, a folder without CSV, a missing column and an unknown score mode: exit 2, nothing run", async () => {
      const count = runsBefore();
      const cases: [string[], RegExp][] = [
        [["--input", folder("empty", {})], /input folder .*empty is empty/],
        [["--input", folder("nocsv", { "a.txt": "x" })], /has no CSV file \(found a\.txt\)/],
        [["--input", folder("nocol", { "ok.csv": `${goodHeader}\n`, "bad.csv": `${REQUIRED_COLUMNS.filter((c) => c !== "chol").join(",")}\n1` })], /nocol\/bad\.csv: missing required column chol$/m],
        [["--input", SAMPLE, "--score-mode", "probabilities"], /--score-mode must be one of append, prediction_only \(got 'probabilities'\)/],
        [[], /--input is required/],
        [["--input", SAMPLE, "--workers", "0"], /--workers must be a whole number of worker processes from 1 to 256 \(got '0'\)/],
      ];
      const results = await Promise.all(cases.map(([args]) => cli([...args, "--runs-dir", runsDir])));
      for (const [i, [args, message]] of cases.entries()) {
        const r = results[i];
        assert.strictEqual(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, /^local-run: error: /);
        assert.match(r.stderr, message);
        assert.strictEqual(r.stdout, "");
      }
      assert.strictEqual(runsBefore(), count, "no run was started");
    });

    it("a non-numeric value: the prepare step names file, column and row; the run fails (exit 1); no output file left", async () => {
      const input = folder("nonnumeric", {
        "a-good.csv": sampleLines.slice(0, 20).join("\n") + "\n",
        "b-bad.csv": [sampleLines[0], sampleLines[1], sampleLines[2].replace(/^67,/, "sixty-seven,")].join("\n") + "\n",
      });
      const r = await cli(["--input", input, "--runs-dir", runsDir, "--json"]);
      assert.strictEqual(r.status, 1, r.stderr);
      const json = JSON.parse(r.stdout);
      assert.strictEqual(json.status, "Failed");
      assert.strictEqual(json.error.step, "prepare");
      assert.strictEqual(json.error.kind, "input");
      assert.match(json.error.message, /b-bad\.csv: column 'age' must be numeric, but data row 2 holds 'sixty-seven'/);
      assert.match(r.stderr, /local-run: error: step prepare failed: .*b-bad\.csv: column 'age'/);
      const run = readLocalRun(runsDir, json.runId);
      assert.deepStrictEqual(run.steps.map((s) => s.status), ["Failed", "NotStarted"]);
      assert.deepStrictEqual(filesUnder(path.join(run.runDir, "outputs")), [], "no partial or earlier file is left");
    });

    it("the steps refuse a bad header themselves too (when the up-front check is bypassed)", async () => {
      const input = folder("nocol-runner", { "x.csv": "age,sex\n1,1\n" });
      const r: LocalRunRecord = await runLocalPipeline({ inputs: { input_data: input }, runsDir });
      assert.strictEqual(r.status, "Failed");
      assert.strictEqual(r.error?.kind, "input");
      assert.match(r.error!.message, /^prepare: error: .*x\.csv: missing required column\(s\): cp, trestbps/);
    });
  });

  it("exits 130 with the run Canceled on Ctrl-C", async () => {
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", CLI, "--input", SAMPLE, "--runs-dir", runsDir, "--run-id", "ctrl-c", "--json"], { cwd: REPO_ROOT });
    let stderr = "";
    let stdout = "";
    child.stdout.on("data", (c) => (stdout += c));
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on("data", (c) => {
        stderr += c;
        if (/\[prepare\] running/.test(stderr) && !child.killed) child.kill("SIGINT");
      });
      child.on("close", (c) => resolve(c));
    });
    assert.strictEqual(code, 130, stderr);
    assert.strictEqual(JSON.parse(stdout).status, "Canceled");
    const run = readLocalRun(runsDir, "ctrl-c");
    assert.strictEqual(run.status, "Canceled");
    assert.deepStrictEqual(run.steps.map((s) => s.status), ["Canceled", "NotStarted"]);
  });
});
