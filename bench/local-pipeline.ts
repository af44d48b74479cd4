/**
 * Benchmark of the local pipeline: generates N rows (default 1,000,000) sampled from data/unlabeled, spread
 * over several CSV files in a temp folder, and prints, each the best of --repeat runs (wall and CPU time):
 *  1. the machine's limit on those rows: raw bytes copied, pandas read_csv + to_csv (the baseline, a whole
 *     Python process, as the steps are), and inside one process: the fitted transformer alone (one call on
 *     every row, and once per distinct value as prepare applies it) and XGBoost predict alone;
 *  2. the two steps as commands (prepare.py, score.py): wall, CPU and peak memory (GNU time), and the ratio
 *     of the pipeline to the baseline;
 *  3. the pipeline through the local runner (runLocalPipeline, --workers as given), end to end;
 *  4. each step's peak memory at 200,000 and at 2,000,000 rows (2 files each): it should not grow.
 *
 *   npm run bench:local -- [--rows 1000000] [--files 8] [--repeat 3] [--workers N] [--no-memory] [--keep]
 *
 * Prints figures only; nothing here asserts on time.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseArgs } from "util";
import { REPO_ROOT, resolvePython, runLocalPipeline } from "../scripts/lib/local/runner";
import { gnuTimeAvailable, GNU_TIME, GNU_TIME_FORMAT, readGnuTimeFile } from "../scripts/lib/local/stepProcess";
import { summarizeOutputFolder } from "../scripts/lib/local/outputFolder";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    files: { type: "string", default: "8" },
    repeat: { type: "string", default: "3" },
    workers: { type: "string" },
    "no-memory": { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
});
const ROWS = Number(values.rows);
const FILES = Number(values.files);
const REPEAT = Number(values.repeat);
const WORKERS = values.workers === undefined ? undefined : Number(values.workers);
if ([ROWS, FILES, REPEAT, WORKERS ?? 1].some((n) => !Number.isInteger(n) || n < 1)) {
  console.error("local-pipeline bench: --rows, --files, --repeat and --workers must be positive integers");
  process.exit(2);
}

/** Small deterministic PRNG (mulberry32), so every run scores the same input. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generate(dir: string, total: number, files: number): { bytes: number } {
  const [header, ...sample] = fs.readFileSync(path.join(REPO_ROOT, "data", "unlabeled", "heart.csv"), "utf8").trimEnd().split("\n");
  const random = prng(42);
  let bytes = 0;
  for (let f = 0; f < files; f++) {
    const count = Math.floor(total / files) + (f < total % files ? 1 : 0);
    const fd = fs.openSync(path.join(dir, `part-${String(f + 1).padStart(2, "0")}.csv`), "w");
    let buf: string[] = [header];
    for (let i = 0; i < count; i++) {
      buf.push(sample[Math.floor(random() * sample.length)]);
      if (buf.length >= 50_000) {
        bytes += fs.writeSync(fd, buf.join("\n") + "\n");
        buf = [];
      }
    }
    if (buf.length) bytes += fs.writeSync(fd, buf.join("\n") + "\n");
    fs.closeSync(fd);
  }
  return { bytes };
}

const BASELINE_PY = `
import os, sys, pandas as pd
src, dst = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(src)):
    pd.read_csv(os.path.join(src, name)).to_csv(os.path.join(dst, name), index=False)
`;

/** The machine's limit, each operation timed inside one Python process (imports excluded), best of n. */
const LIMITS_PY = `
import json, os, pickle, shutil, sys, time
src, dst, transforms, model, prepare_src, repeat = sys.argv[1:7]
sys.path.insert(0, prepare_src)
sys.dont_write_bytecode = True
import numpy as np, pandas as pd, xgboost
from heart_features import CATEGORICAL, REQUIRED, build_features
from feature_table import FeatureTransform
files = sorted(os.listdir(src))
def best(name, fn):
    runs = []
    for _ in range(int(repeat)):
        w, c = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.perf_counter() - w, time.process_time() - c))
    print(json.dumps({"name": name, "wall": min(r[0] for r in runs), "cpu": min(r[1] for r in runs)}), flush=True)
os.makedirs(dst, exist_ok=True)
best("raw bytes copied (read + write each file)", lambda: [shutil.copyfile(os.path.join(src, f), os.path.join(dst, f)) for f in files])
best("pandas read_csv + to_csv, in process", lambda: [pd.read_csv(os.path.join(src, f)).to_csv(os.path.join(dst, f), index=False) for f in files])
raw = pd.concat([pd.read_csv(os.path.join(src, f), dtype=str, keep_default_na=False, na_filter=False) for f in files], ignore_index=True)
features = build_features(raw)
del raw
transformer = pickle.load(open(os.path.join(transforms, "transformations.pkl"), "rb"))
best("transformer, one call on every row", lambda: transformer.transform(features))
fast = FeatureTransform(transformer, REQUIRED, set(CATEGORICAL))
values, codes = {}, {}
for c in REQUIRED:  # the distinct values and codes, as prepare's reader hands them over (not timed)
    codes[c], uniques = pd.factorize(features[c], use_na_sentinel=False)
    values[c] = np.asarray(uniques, dtype=object if c in CATEGORICAL else "float64")
best("transformer, once per distinct value + lookup of every row", lambda: fast.transform(values, codes, len(features))[0].matrix(list(range(len(fast.names)))))
X = pd.DataFrame(transformer.transform(features), columns=transformer.get_feature_names_out())
classifier = xgboost.XGBClassifier()
classifier.load_model(os.path.join(model, "model.json"))
best("XGBoost predict", lambda: classifier.predict(X))
`;

interface Timed { seconds: number; cpuMs?: number; peakRssKiB?: number }

/** Runs a command under GNU time (when installed): wall seconds, CPU and peak RSS of the process tree. */
function timed(cmd: string, args: string[], cwd: string, rssFile: string): Timed {
  const measure = gnuTimeAvailable();
  const [c, a] = measure ? [GNU_TIME, ["-f", GNU_TIME_FORMAT, "-o", rssFile, cmd, ...args]] : [cmd, args];
  const started = process.hrtime.bigint();
  const r = spawnSync(c, a, { cwd, stdio: ["ignore", "ignore", "pipe"], maxBuffer: 64 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${path.basename(args[0] ?? cmd)} failed with exit code ${r.status}: ${r.stderr?.toString().slice(-2000)}`);
  return { seconds, ...(measure ? readGnuTimeFile(rssFile) : {}) };
}

/** The least wall time and the least CPU time of REPEAT runs (each its own minimum: on a shared machine they
 * rarely fall in the same run), with the largest peak memory; `fresh` clears the outputs before each run. */
function bestOf(run: () => Timed, fresh: () => void): Timed {
  const runs: Timed[] = [];
  for (let i = 0; i < REPEAT; i++) {
    fresh();
    runs.push(run());
  }
  const least = (xs: Array<number | undefined>) => (xs.every((x) => x !== undefined) ? Math.min(...(xs as number[])) : undefined);
  const peaks = runs.map((r) => r.peakRssKiB).filter((x): x is number => x !== undefined);
  return {
    seconds: Math.min(...runs.map((r) => r.seconds)),
    cpuMs: least(runs.map((r) => r.cpuMs)),
    peakRssKiB: peaks.length ? Math.max(...peaks) : undefined,
  };
}

const PREPARE_SRC = path.join(REPO_ROOT, "components", "prepare", "src");
const SCORE_SRC = path.join(REPO_ROOT, "components", "score", "src");
const TRANSFORMS = path.join(REPO_ROOT, "models", "heart-classifier-transforms");
const MODEL = path.join(REPO_ROOT, "models", "heart-classifier");

/** prepare.py then score.py as commands, each under GNU time. */
function steps(python: string, input: string, work: string, repeat = true): { prepare: Timed; score: Timed } {
  const prepared = path.join(work, "prepared");
  const scores = path.join(work, "scores");
  const clear = (dir: string) => () => fs.rmSync(dir, { recursive: true, force: true });
  const rss = path.join(work, "resources.txt");
  const once = (f: () => Timed, c: () => void) => (repeat ? bestOf(f, c) : (c(), f()));
  const prepare = once(() => timed(python, ["prepare.py", "--data", input, "--transformations", TRANSFORMS, "--prepared_data", prepared], PREPARE_SRC, rss), clear(prepared));
  const score = once(() => timed(python, ["score.py", "--data", prepared, "--model", MODEL, "--score_mode", "append", "--scores", scores], SCORE_SRC, rss), clear(scores));
  return { prepare, score };
}

const mib = (kib?: number) => (kib === undefined ? "n/a (GNU time not installed)" : `${(kib / 1024).toFixed(0)} MiB`);
const cpu = (ms?: number) => (ms === undefined ? "n/a" : `${(ms / 1000).toFixed(2)} s`);
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const row = (name: string, t: Timed) => `| ${name} | ${t.seconds.toFixed(2)} s | ${cpu(t.cpuMs)} | ${t.peakRssKiB === undefined ? "" : mib(t.peakRssKiB)} |`;

async function main(): Promise<void> {
  const python = resolvePython();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "heart-bench-"));
  const input = path.join(work, "input");
  fs.mkdirSync(input);
  try {
    let t = Date.now();
    const { bytes } = generate(input, ROWS, FILES);
    console.log(`input: ${fmt(ROWS)} rows in ${FILES} files, ${(bytes / 1048576).toFixed(1)} MiB (generated in ${((Date.now() - t) / 1000).toFixed(1)} s); least wall and least CPU time of ${REPEAT} runs each`);
    console.log(`load average before measuring: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} (${os.cpus().length} CPUs, ${python})`);

    console.log(`\nThe machine's limit (inside one Python process, imports excluded):\n| operation | wall | CPU |\n|---|---|---|`);
    const limits = spawnSync(python, ["-c", LIMITS_PY, input, path.join(work, "limits-out"), TRANSFORMS, MODEL, PREPARE_SRC, String(REPEAT)], { stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 20 });
    if (limits.status !== 0) throw new Error(`the limits script failed with exit code ${limits.status}`);
    for (const line of limits.stdout.toString().trim().split("\n")) {
      const m = JSON.parse(line) as { name: string; wall: number; cpu: number };
      console.log(`| ${m.name} | ${m.wall.toFixed(2)} s | ${m.cpu.toFixed(2)} s |`);
    }
    fs.rmSync(path.join(work, "limits-out"), { recursive: true, force: true });

    const baseOut = path.join(work, "baseline-out");
    const base = bestOf(() => timed(python, ["-c", BASELINE_PY, input, baseOut], work, path.join(work, "baseline.txt")),
      () => { fs.rmSync(baseOut, { recursive: true, force: true }); fs.mkdirSync(baseOut); });
    const s = steps(python, input, work);
    const pipeline: Timed = { seconds: s.prepare.seconds + s.score.seconds, cpuMs: s.prepare.cpuMs !== undefined && s.score.cpuMs !== undefined ? s.prepare.cpuMs + s.score.cpuMs : undefined, peakRssKiB: Math.max(s.prepare.peakRssKiB ?? 0, s.score.peakRssKiB ?? 0) || undefined };
    console.log(`\nWhole processes on ${fmt(ROWS)} rows:\n| process | wall | CPU | peak memory |\n|---|---|---|---|`);
    console.log(row("pandas read_csv + to_csv (the baseline)", base));
    console.log(row("prepare.py", s.prepare));
    console.log(row("score.py (append)", s.score));
    console.log(row("the two steps", pipeline));
    console.log(`ratio steps / baseline: ${(pipeline.seconds / base.seconds).toFixed(2)}x wall` + (pipeline.cpuMs && base.cpuMs ? `, ${(pipeline.cpuMs / base.cpuMs).toFixed(2)}x CPU` : "") + `; ${fmt(ROWS / pipeline.seconds)} rows/s`);

    t = Date.now();
    const record = await runLocalPipeline({
      inputs: { input_data: input, score_mode: "append" },
      runsDir: path.join(work, "runs"),
      measureResources: true,
      ...(WORKERS ? { workers: WORKERS } : {}),
    });
    const seconds = (Date.now() - t) / 1000;
    if (record.status !== "Completed") throw new Error(`the pipeline run ${record.status}: ${record.error?.step}: ${record.error?.message}`);
    const summary = await summarizeOutputFolder(record.outputs.scores);
    if (summary.rows !== ROWS) throw new Error(`expected ${ROWS} scored rows, got ${summary.rows}`);
    const stepCpu = record.steps.every((x) => x.cpuMs !== undefined) ? record.steps.reduce((n, x) => n + x.cpuMs!, 0) : undefined;
    console.log(`\nThrough the local runner (workers: ${WORKERS ?? "default"}): ${seconds.toFixed(2)} s wall, CPU ${cpu(stepCpu)}, ${(seconds / base.seconds).toFixed(2)}x the baseline`);
    for (const x of record.steps) console.log(`  step ${x.name}: ${((x.durationMs ?? 0) / 1000).toFixed(2)} s wall, CPU ${cpu(x.cpuMs)}, peak memory ${mib(x.peakRssKiB)}`);

    if (!values["no-memory"]) {
      console.log(`\nPeak memory of each step by input size (2 files):\n| rows | prepare | score |\n|---|---|---|`);
      for (const rows of [200_000, 2_000_000]) {
        const dir = path.join(work, `memory-${rows}`);
        fs.mkdirSync(path.join(dir, "input"), { recursive: true });
        generate(path.join(dir, "input"), rows, 2);
        const m = steps(python, path.join(dir, "input"), dir, false);
        console.log(`| ${fmt(rows)} | ${mib(m.prepare.peakRssKiB)} | ${mib(m.score.peakRssKiB)} |`);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    console.log(`\nload average after measuring: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  } finally {
    if (values.keep) console.log(`kept ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`local-pipeline bench: ${(e as Error).message}`);
  process.exit(1);
});
