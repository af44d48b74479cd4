/**
 * Benchmark input: rows sampled (seeded, so every run scores the same input) from data/unlabeled, spread over
 * several CSV files. Shared by the benchmarks that need a large input of the real shape.
 */
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT } from "../scripts/lib/local/runner";

/** Small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes `rows` sampled rows in `files` files part-001.csv… under dir; returns the bytes written. */
export function writeSample(dir: string, rows: number, files: number, seed = 7): number {
  const [header, ...lines] = fs.readFileSync(path.join(REPO_ROOT, "data", "unlabeled", "heart.csv"), "utf8").trimEnd().split("\n");
  const random = prng(seed);
  let bytes = 0;
  for (let f = 0; f < files; f++) {
    const count = Math.floor(rows / files) + (f < rows % files ? 1 : 0);
    const out = [header];
    for (let i = 0; i < count; i++) out.push(lines[Math.floor(random() * lines.length)]);
    const text = out.join("\n") + "\n";
    fs.writeFileSync(path.join(dir, `part-${String(f + 1).padStart(3, "0")}.csv`), text);
    bytes += Buffer.byteLength(text);
  }
  return bytes;
}
