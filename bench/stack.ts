/**
 * Benchmark of the stack program: the time to evaluate the whole program under Pulumi mocks (first run,
 * which loads modules and serializes the dynamic providers, and later runs), the time to hash the model and
 * code folders, and the number of resource inputs that differ between two runs of the same checkout (must be 0).
 *
 *   node -r ts-node/register/transpile-only bench/stack.ts [--runs 5] [--hash-runs 20]
 *
 * Prints figures only; nothing here asserts on time.
 */
import * as path from "path";
import { parseArgs } from "util";
import { hashFolder } from "../lib/contentHash";
import { inputsByResource, PROJECT_ROOT, rawConfig, runProgram, stackProgram } from "../test/support/pulumiMocks";

const { values } = parseArgs({ options: { runs: { type: "string", default: "5" }, "hash-runs": { type: "string", default: "20" } } });
const RUNS = Number(values.runs);
const HASH_RUNS = Number(values["hash-runs"]);
if (!Number.isInteger(RUNS) || RUNS < 2 || !Number.isInteger(HASH_RUNS) || HASH_RUNS < 1) {
  console.error("stack bench: --runs must be an integer >= 2 and --hash-runs >= 1");
  process.exit(2);
}

const FOLDERS = ["models/heart-classifier", "models/heart-classifier-transforms", "components/prepare/src", "components/score/src"];

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main() {
  const program = stackProgram(rawConfig());
  const times: number[] = [];
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    runs.push(await runProgram(program));
    times.push(ms(t));
  }

  const hashTimes: number[] = [];
  let files = 0;
  let bytes = 0;
  for (let i = 0; i < HASH_RUNS; i++) {
    const t = process.hrtime.bigint();
    const results = FOLDERS.map((f) => hashFolder(path.join(PROJECT_ROOT, f)));
    hashTimes.push(ms(t));
    files = results.reduce((n, r) => n + r.files.length, 0);
    bytes = results.reduce((n, r) => n + r.files.reduce((m, f) => m + f.size, 0), 0);
  }

  const a = inputsByResource(runs[0]);
  const b = inputsByResource(runs[runs.length - 1]);
  const keys = new Set([...a.keys(), ...b.keys()]);
  const differing = [...keys].filter((k) => a.get(k) !== b.get(k));

  console.log(`stack bench (${RUNS} runs under mocks, ${runs[0].resources.length} resources)`);
  console.log(`  evaluate program, first run:        ${times[0].toFixed(0)} ms (loads modules, serializes the dynamic providers)`);
  console.log(`  evaluate program, later runs:       median ${median(times.slice(1)).toFixed(0)} ms, min ${Math.min(...times.slice(1)).toFixed(0)} ms`);
  console.log(`  hash model + code folders:          median ${median(hashTimes).toFixed(1)} ms (${files} files, ${(bytes / 1024).toFixed(0)} KiB, ${HASH_RUNS} runs)`);
  console.log(`  resource inputs differing between the first and last run: ${differing.length}${differing.length ? ` (${differing.join(", ")})` : ""}`);
  if (differing.length > 0) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
