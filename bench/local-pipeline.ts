/**
 * Benchmark of the local pipeline: generates N rows (default 1,000,000) sampled from data/unlabeled, spread
 * over several CSV files in a temp folder, runs the pipeline on them, and prints rows per second, each step's
 * time and peak memory (max RSS of the step's processes, from GNU time), and the ratio to a baseline that only
 * reads and writes the same CSVs with pandas (one Python process, same interpreter).
 *
 *   node -r ts-node/register/transpile-only bench/local-pipeline.ts [--rows 1000000] [--files 8] [--keep]
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
  options: { rows: { type: "string", default: "1000000" }, files: { type: "string", default: "8" }, keep: { type: "boolean", default: false } },
});
const ROWS = Number(values.rows);
const FILES = Number(values.files);
if (!Number.isInteger(ROWS) || ROWS < 1 || !Number.isInteger(FILES) || FILES < 1) {
  console.error("local-pipeline bench: --rows and --files must be positive integers");
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

function generate(dir: string): { bytes: number } {
  const [header, ...rows] = fs.readFileSync(path.join(REPO_ROOT, "data", "unlabeled", "heart.csv"), "utf8").trimEnd().split("\n");
  const random = prng(42);
  let bytes = 0;
  for (let f = 0; f < FILES; f++) {
    const count = Math.floor(ROWS / FILES) + (f < ROWS % FILES ? 1 : 0);
    const fd = fs.openSync(path.join(dir, `part-${String(f + 1).padStart(2, "0")}.csv`), "w");
    let buf: string[] = [header];
    for (let i = 0; i < count; i++) {
      buf.push(rows[Math.floor(random() * rows.length)]);
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

/** Wall time, max RSS (KiB) and CPU time of the pandas read+write baseline. */
function baseline(python: string, input: string, output: string): { seconds: number; peakRssKiB?: number; cpuMs?: number } {
  fs.mkdirSync(output, { recursive: true });
  const rssFile = path.join(output, "..", "baseline-resources.txt");
  const measure = gnuTimeAvailable();
  const [cmd, args] = measure
    ? [GNU_TIME, ["-f", GNU_TIME_FORMAT, "-o", rssFile, python, "-c", BASELINE_PY, input, output]]
    : [python, ["-c", BASELINE_PY, input, output]];
  const started = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"] });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`baseline failed with exit code ${r.status}`);
  return { seconds, ...(measure ? readGnuTimeFile(rssFile) : {}) };
}

const mib = (kib?: number) => (kib === undefined ? "n/a (GNU time not installed)" : `${(kib / 1024).toFixed(0)} MiB`);
const cpu = (ms?: number) => (ms === undefined ? "n/a" : `${(ms / 1000).toFixed(2)} s`);
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

async function main(): Promise<void> {
  const python = resolvePython();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "heart-bench-"));
  const input = path.join(work, "input");
  fs.mkdirSync(input);
  try {
    let t = Date.now();
    const { bytes } = generate(input);
    console.log(`input: ${fmt(ROWS)} rows in ${FILES} files, ${(bytes / 1048576).toFixed(1)} MiB (generated in ${((Date.now() - t) / 1000).toFixed(1)} s)`);

    t = Date.now();
    const record = await runLocalPipeline({
      inputs: { input_data: input, score_mode: "append" },
      runsDir: path.join(work, "runs"),
      measureResources: true,
    });
    const seconds = (Date.now() - t) / 1000;
    if (record.status !== "Completed") throw new Error(`the pipeline run ${record.status}: ${record.error?.step}: ${record.error?.message}`);
    const summary = await summarizeOutputFolder(record.outputs.scores);
    if (summary.rows !== ROWS) throw new Error(`expected ${ROWS} scored rows, got ${summary.rows}`);

    const base = baseline(python, input, path.join(work, "baseline-out"));
    const stepCpu = record.steps.every((s) => s.cpuMs !== undefined) ? record.steps.reduce((n, s) => n + s.cpuMs!, 0) : undefined;
    const peak = record.steps.every((s) => s.peakRssKiB !== undefined) ? Math.max(...record.steps.map((s) => s.peakRssKiB!)) : undefined;
    console.log(`local pipeline (append): ${seconds.toFixed(2)} s wall, ${fmt(ROWS / seconds)} rows/s; CPU ${cpu(stepCpu)}; peak memory ${mib(peak)}`);
    for (const s of record.steps) console.log(`  step ${s.name}: ${((s.durationMs ?? 0) / 1000).toFixed(2)} s wall, CPU ${cpu(s.cpuMs)}, peak memory ${mib(s.peakRssKiB)}`);
    console.log(`pandas read+write baseline: ${base.seconds.toFixed(2)} s wall, ${fmt(ROWS / base.seconds)} rows/s; CPU ${cpu(base.cpuMs)}; peak memory ${mib(base.peakRssKiB)}`);
    console.log(`ratio pipeline / baseline: ${(seconds / base.seconds).toFixed(2)}x wall` + (stepCpu && base.cpuMs ? `, ${(stepCpu / base.cpuMs).toFixed(2)}x CPU` : ""));
    console.log(`load average while measuring: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
    console.log(`(${os.cpus().length} CPUs, ${python}; each file read and written twice by the pipeline: prepare, then score)`);
  } finally {
    if (values.keep) console.log(`kept ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`local-pipeline bench: ${(e as Error).message}`);
  process.exit(1);
});
