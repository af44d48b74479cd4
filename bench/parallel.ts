/**
 * Benchmark of the parallel steps: how the local pipeline's throughput grows with worker processes, and what a
 * cluster of 1..5 nodes would take for a 10,000,000-row job.
 *
 *   npm run bench:parallel -- [--rows 1000000] [--files 40] [--nodes 5] [--share <f>] [--target-rows 10000000]
 *                             [--json <file>] [--keep] [--pipeline <pipeline.yml>]
 *
 * Input: --rows rows sampled (seeded) from data/unlabeled in --files CSV files (one file per mini-batch).
 *  1. Throughput: the whole local pipeline (runLocalPipeline, prepare then score) with 1 and with 2 workers;
 *     rows/s over the wall time and over the work after start-up (the slowest worker's init() per step, from the
 *     per-worker logs), and the ratios 2 workers ÷ 1 worker (goal on a 2-core machine: >= 1.6). The scores of
 *     every run are compared byte for byte.
 *  2. Simulated nodes: the same pipeline with k = 1..--nodes workers, each worker held to a share f of one CPU
 *     (default f = CPUs / nodes, so that all 5 fit the machine's cores at once without competing): a worker
 *     stands in for a node. The driver pauses and resumes each worker (SIGSTOP/SIGCONT, staggered windows in
 *     200 ms periods; scripts/lib/local/parallel_driver.py --cpu-share).
 *     Projection to --target-rows on k nodes, stated method: from each run's per-worker logs, split the wall
 *     time into start-up S (the slowest worker's init(), per step, summed) and work W = wall − S. A node with a
 *     whole core does in f·t what the throttled worker did in t, and the work grows linearly with rows while
 *     the start-up does not (the larger job has proportionally more files, so mini-batches stay the same size):
 *         T(k) = f · (S + W · target / rows)
 *     Also modelled from CPU seconds, which other load on the machine barely changes: the 1-worker run's CPU time
 *     of each init() and each mini-batch (per-worker logs), replayed for the target's mini-batches onto k nodes of
 *     one core, each node taking the next mini-batch when free (see modelSeconds).
 *     Not modelled: node provisioning and image pull (minutes on Azure, before the first mini-batch), storage
 *     throughput, and a node having more than one core (max_concurrency_per_instance > 1 multiplies a node's
 *     throughput by up to its vCPUs).
 * Prints figures only; nothing here asserts on time. Run it on a quiet machine: other load skews every figure.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseArgs } from "util";
import { LocalRunRecord, runLocalPipeline } from "../scripts/lib/local/runner";
import { writeSample } from "./sampleData";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    files: { type: "string", default: "40" },
    nodes: { type: "string", default: "5" },
    share: { type: "string" },
    "target-rows": { type: "string", default: "10000000" },
    json: { type: "string" },
    keep: { type: "boolean", default: false },
    pipeline: { type: "string" },
  },
});
const ROWS = Number(values.rows);
const FILES = Number(values.files);
const NODES = Number(values.nodes);
const TARGET = Number(values["target-rows"]);
const CPUS = os.cpus().length;
const SHARE = values.share === undefined ? Math.min(1, CPUS / NODES) : Number(values.share);
if ([ROWS, FILES, NODES, TARGET].some((n) => !Number.isInteger(n) || n < 1) || !(SHARE > 0 && SHARE <= 1)) {
  console.error("parallel bench: --rows, --files, --nodes and --target-rows must be positive integers, --share in (0, 1]");
  process.exit(2);
}

/** sha256 over every output file (relative name and bytes), to compare runs. */
function digest(dir: string): string {
  const h = crypto.createHash("sha256");
  const walk = (d: string, rel: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory()) walk(path.join(d, e.name), `${rel}${e.name}/`);
      else h.update(`${rel}${e.name}\0`).update(fs.readFileSync(path.join(d, e.name)));
    }
  };
  walk(dir, "");
  return h.digest("hex");
}

/** The slowest worker's init() in seconds, per step, from the per-worker logs ("init() done in X s"). */
function startupSeconds(record: LocalRunRecord): number {
  let total = 0;
  for (const step of record.steps) {
    if (!step.workerLogs || !fs.existsSync(step.workerLogs)) continue;
    let slowest = 0;
    for (const f of fs.readdirSync(step.workerLogs)) {
      for (const m of fs.readFileSync(path.join(step.workerLogs, f), "utf8").matchAll(/init\(\) done in ([0-9.]+) s/g)) slowest = Math.max(slowest, Number(m[1]));
    }
    total += slowest;
  }
  return total;
}

/** Per step, from the per-worker logs: CPU seconds of each init() and of each mini-batch (in mini-batch order). */
interface StepCpu {
  readonly step: string;
  readonly initCpu: number[];
  readonly batchCpu: number[];
}

function stepCpu(record: LocalRunRecord): StepCpu[] {
  return record.steps.map((step) => {
    const initCpu: number[] = [];
    const batches: [number, number][] = [];
    for (const f of step.workerLogs && fs.existsSync(step.workerLogs) ? fs.readdirSync(step.workerLogs) : []) {
      const text = fs.readFileSync(path.join(step.workerLogs!, f), "utf8");
      for (const m of text.matchAll(/init\(\) done in [0-9.]+ s \(cpu ([0-9.]+) s\)/g)) initCpu.push(Number(m[1]));
      for (const m of text.matchAll(/mini-batch (\d+) done in [0-9.]+ s \(cpu ([0-9.]+) s\)/g)) batches.push([Number(m[1]), Number(m[2])]);
    }
    return { step: step.name, initCpu, batchCpu: batches.sort((a, b) => a[0] - b[0]).map(([, c]) => c) };
  });
}

/**
 * Model of k nodes with one core each, from measured CPU seconds (robust to other load on this machine): per
 * step, every node pays one init() (the mean measured), then takes the next mini-batch whenever it is free (as
 * the parallel run hands them out); the target job has target/rows times as many mini-batches of the same size,
 * each costing what its measured counterpart did. Steps run one after the other. Process start and I/O waits
 * beyond the CPU time are left out.
 */
function modelSeconds(cpu: readonly StepCpu[], nodes: number, scale: number): number {
  let total = 0;
  for (const s of cpu) {
    if (s.batchCpu.length === 0) continue;
    const init = s.initCpu.reduce((a, b) => a + b, 0) / Math.max(1, s.initCpu.length);
    const free = Array.from({ length: nodes }, () => init);
    const count = Math.round(s.batchCpu.length * scale);
    for (let i = 0; i < count; i++) {
      let n = 0;
      for (let j = 1; j < nodes; j++) if (free[j] < free[n]) n = j;
      free[n] += s.batchCpu[i % s.batchCpu.length];
    }
    total += Math.max(...free);
  }
  return total;
}

interface Measured {
  readonly workers: number;
  readonly share: number;
  readonly seconds: number;
  readonly startup: number;
  readonly digest: string;
  readonly cpu: StepCpu[];
}

async function measure(input: string, runsDir: string, workers: number, share: number): Promise<Measured> {
  const env = { ...process.env, ...(share < 1 ? { HEART_PARALLEL_CPU_SHARE: String(share) } : {}) };
  const started = process.hrtime.bigint();
  const r = await runLocalPipeline({ inputs: { input_data: input, score_mode: "append" }, runsDir, workers, env, pipelineFile: values.pipeline });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== "Completed") throw new Error(`run with ${workers} worker(s) ended ${r.status}: ${r.error?.message}`);
  const m = { workers, share, seconds, startup: startupSeconds(r), digest: digest(r.outputs.scores), cpu: stepCpu(r) };
  fs.rmSync(r.runDir, { recursive: true, force: true });
  process.stderr.write(`  ${workers} worker(s)${share < 1 ? ` at ${share.toFixed(2)} CPU each` : ""}: ${m.seconds.toFixed(1)} s (start-up ${m.startup.toFixed(1)} s)\n`);
  return m;
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const dur = (s: number) => (s >= 120 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(1)} s`);

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "heart-bench-parallel-"));
  const input = path.join(work, "input");
  fs.mkdirSync(input);
  const bytes = writeSample(input, ROWS, FILES);
  const runsDir = path.join(work, "runs");
  process.stderr.write(`parallel bench: ${fmt(ROWS)} rows in ${FILES} files (${(bytes / 2 ** 20).toFixed(1)} MiB), ${CPUS} CPUs, load ${os.loadavg()[0].toFixed(2)}\n`);
  try {
    process.stderr.write("warm-up (file cache, Python imports)\n");
    await measure(input, runsDir, CPUS, 1);

    process.stderr.write("throughput\n");
    const one = await measure(input, runsDir, 1, 1);
    const two = await measure(input, runsDir, 2, 1);
    const identical = one.digest === two.digest;

    process.stderr.write(`simulated nodes (each worker held to ${SHARE.toFixed(2)} of a CPU)\n`);
    const sims: Measured[] = [];
    for (let k = 1; k <= NODES; k++) sims.push(await measure(input, runsDir, k, SHARE));
    const allIdentical = identical && sims.every((s) => s.digest === one.digest);

    const project = (m: Measured) => m.share * (m.startup + Math.max(0, m.seconds - m.startup) * (TARGET / ROWS));
    console.log(`\nThroughput of the local pipeline (${fmt(ROWS)} rows, ${FILES} files, prepare + score, ${CPUS} CPUs)\n`);
    // Start-up (importing pandas, scikit-learn and XGBoost, loading the models) is paid once per worker and step
    // whatever the input's size; the work after it is what more workers divide.
    const work = (m: Measured) => Math.max(1e-9, m.seconds - m.startup);
    console.log("| Workers | Wall | Start-up | Rows/s (wall) | Rows/s (after start-up) | vs 1 worker (wall) | vs 1 worker (after start-up) |");
    console.log("|---|---|---|---|---|---|---|");
    for (const m of [one, two]) {
      console.log(`| ${m.workers} | ${dur(m.seconds)} | ${dur(m.startup)} | ${fmt(ROWS / m.seconds)} | ${fmt(ROWS / work(m))} | ${(one.seconds / m.seconds).toFixed(2)}× | ${(work(one) / work(m)).toFixed(2)}× |`);
    }
    console.log(`\nScores byte-identical across every run: ${allIdentical ? "yes" : "NO"}`);
    const scale = TARGET / ROWS;
    const cpuSeconds = one.cpu.reduce((n, s) => n + s.batchCpu.reduce((a, b) => a + b, 0), 0);
    console.log(`\nA ${fmt(TARGET)}-row job on k nodes of one core each. Measured: k workers each held to ${SHARE.toFixed(2)} of a CPU stand in for k nodes, on ${fmt(ROWS)} rows, projected as T = f·(S + W·${fmt(TARGET)}/${fmt(ROWS)}). Modelled: the 1-worker run's CPU seconds per init() and per mini-batch (${cpuSeconds.toFixed(1)} CPU-s of mini-batches for ${fmt(ROWS)} rows), ${FILES * scale} mini-batches per step handed to whichever node is free.\n`);
    console.log(`| Nodes | Measured wall (${fmt(ROWS)} rows, throttled) | Start-up S | Projected from the measured | Modelled from CPU times | Speed-up (modelled) |`);
    console.log("|---|---|---|---|---|---|");
    const base = modelSeconds(one.cpu, 1, scale);
    for (const m of sims) {
      const modelled = modelSeconds(one.cpu, m.workers, scale);
      console.log(`| ${m.workers} | ${dur(m.seconds)} | ${dur(m.startup)} | ${dur(project(m))} | ${dur(modelled)} | ${(base / modelled).toFixed(2)}× |`);
    }
    if (values.json) {
      fs.writeFileSync(values.json, JSON.stringify({ rows: ROWS, files: FILES, cpus: CPUS, share: SHARE, targetRows: TARGET, throughput: [one, two], simulated: sims.map((m) => ({ ...m, projected: project(m), modelled: modelSeconds(one.cpu, m.workers, TARGET / ROWS) })), identical: allIdentical }, null, 2) + "\n");
    }
  } finally {
    if (values.keep) process.stderr.write(`kept ${work}\n`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`parallel bench: ${(e as Error).message}`);
  process.exit(1);
});
