/**
 * Benchmark of the every-cell input check (npm run bench:input): 1,000,000 rows resampled from data/unlabeled
 * in 8 CSV files (about 40 MB), the same shape as bench/local-pipeline.ts. Prints, min / median of the runs:
 *  - reading the bytes alone (the floor): fs.readFileSync per file, and the check's own 1 MiB read loop;
 *  - the check in-process (every cell of every file; scripts/lib/input/checkInput.ts);
 *  - the whole `invoke` process refusing the folder with one bad cell in the last row of the last file (so
 *    every byte is checked first), through the CLI launcher (scripts/cli/launch.js, cached transpile) and
 *    through ts-node, and whether any @azure module was loaded.
 * Wall and CPU times (CPU times are steadier on a shared machine). Asserts nothing. Usage: npm run bench:input [-- --rows 1000000 --files 8 --runs 5]
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkInputCells } from "../scripts/lib/input/checkInput";

const ROOT = path.resolve(__dirname, "..");

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** Deterministic resample of the sample rows (a small LCG, no Math.random). */
export function writeSample(dir: string, rows: number, files: number): { bytes: number; files: string[] } {
  const [header, ...lines] = fs.readFileSync(path.join(ROOT, "data/unlabeled/heart.csv"), "utf8").trim().split("\n");
  fs.mkdirSync(dir, { recursive: true });
  let seed = 12345;
  let bytes = 0;
  const names: string[] = [];
  for (let f = 0; f < files; f++) {
    const n = Math.floor(rows / files) + (f < rows % files ? 1 : 0);
    const out: string[] = [header];
    for (let r = 0; r < n; r++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      out.push(lines[seed % lines.length]);
    }
    const name = `part-${String(f).padStart(2, "0")}.csv`;
    const text = out.join("\n") + "\n";
    fs.writeFileSync(path.join(dir, name), text);
    bytes += Buffer.byteLength(text);
    names.push(name);
  }
  return { bytes, files: names };
}

function ms(t: bigint): number {
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[0].toFixed(0)} / ${s[Math.floor(s.length / 2)].toFixed(0)} ms`;
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
}

/** Runs a process under /usr/bin/time (when there) for its CPU time: wall times on a shared machine mostly measure the others. */
function timedSpawn(args: string[], env: NodeJS.ProcessEnv): { wallMs: number; cpuMs?: number; status: number | null; stderr: string } {
  const time = fs.existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;
  const t = process.hrtime.bigint();
  const r = time
    ? spawnSync(time, ["-f", "cpu-seconds %U %S", process.execPath, ...args], { cwd: ROOT, env, encoding: "utf8" })
    : spawnSync(process.execPath, args, { cwd: ROOT, env, encoding: "utf8" });
  const wallMs = ms(t);
  const m = /cpu-seconds ([\d.]+) ([\d.]+)/.exec(String(r.stderr));
  return { wallMs, cpuMs: m ? (Number(m[1]) + Number(m[2])) * 1000 : undefined, status: r.status, stderr: String(r.stderr) };
}

async function main(): Promise<void> {
  const rows = arg("rows", 1_000_000);
  const nFiles = arg("files", 8);
  const runs = arg("runs", 5);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "bench-input-"));
  try {
    const good = path.join(work, "good");
    const { bytes, files } = writeSample(good, rows, nFiles);
    const bad = path.join(work, "bad");
    fs.cpSync(good, bad, { recursive: true });
    const last = path.join(bad, files[files.length - 1]);
    const text = fs.readFileSync(last, "utf8").replace(/\n([^\n]*)\n$/, (_m, l: string) => `\n${l.replace(/^[^,]*/, "sixty")}\n`);
    fs.writeFileSync(last, text);
    console.log(`bench/inputCheck: ${rows.toLocaleString("en-US")} rows in ${nFiles} files, ${(bytes / 1048576).toFixed(1)} MiB; min / median of ${runs} runs`);

    const readAll: number[] = [];
    const readChunks: number[] = [];
    const check: number[] = [];
    const checkCpu: number[] = [];
    const b = Buffer.allocUnsafe(1 << 20);
    for (let r = 0; r < runs; r++) {
      let t = process.hrtime.bigint();
      for (const f of files) fs.readFileSync(path.join(good, f));
      readAll.push(ms(t));
      t = process.hrtime.bigint();
      for (const f of files) {
        const fd = fs.openSync(path.join(good, f), "r");
        while (fs.readSync(fd, b, 0, b.length, null) > 0);
        fs.closeSync(fd);
      }
      readChunks.push(ms(t));
      t = process.hrtime.bigint();
      const c0 = process.cpuUsage();
      const report = await checkInputCells(good);
      check.push(ms(t));
      checkCpu.push(cpuMs(c0));
      if (report.rows !== rows) throw new Error(`checked ${report.rows} rows, expected ${rows}`);
    }
    const median = (xs: number[]) => [...xs].sort((a, x) => a - x)[Math.floor(xs.length / 2)];
    console.log(`  read the bytes: readFileSync ${stats(readAll)}; 1 MiB reads ${stats(readChunks)}`);
    console.log(`  check every cell (in-process): wall ${stats(check)}, CPU ${stats(checkCpu)} = ${(bytes / 1048576 / (median(checkCpu) / 1000)).toFixed(0)} MiB per CPU-second (first run: wall ${check[0].toFixed(0)} ms, CPU ${checkCpu[0].toFixed(0)} ms)`);

    const probe = path.join(work, "probe.js");
    fs.writeFileSync(probe, `process.on("exit", () => { const n = Object.keys(require.cache).filter((k) => k.includes("${path.sep}@azure${path.sep}")).length; require("fs").writeSync(2, "azure-modules-loaded=" + n + "\\n"); });\n`);
    const env = { ...process.env, HEART_STACK_OUTPUTS: undefined, HEART_TARGET: undefined };
    const ways: Array<[string, string[]]> = [
      ["launcher (node scripts/cli/launch.js)", ["-r", probe, path.join(ROOT, "scripts/cli/launch.js"), "invoke"]],
      ["ts-node --transpile-only", ["-r", probe, "-r", require.resolve("ts-node/register/transpile-only"), path.join(ROOT, "scripts/cli/invoke.ts")]],
    ];
    // Warm the launcher's transpile cache once, as any earlier run would have.
    spawnSync(process.execPath, [path.join(ROOT, "scripts/cli/launch.js"), "invoke", "--help"], { cwd: ROOT, env });
    const cpuStats = (xs: Array<number | undefined>) => (xs.every((x) => x !== undefined) ? `, CPU ${stats(xs as number[])}` : "");
    for (const [name, args] of ways) {
      const runsOf = Array.from({ length: runs }, () => timedSpawn([...args, "--input", bad], env));
      const last = runsOf[runsOf.length - 1];
      const loaded = /azure-modules-loaded=(\d+)/.exec(last.stderr)?.[1] ?? "?";
      const named = /part-\d+\.csv: column 'age' must be numeric, but data row \d+ holds 'sixty'/.test(last.stderr);
      console.log(`  whole invoke refusing the bad folder, ${name}: wall ${stats(runsOf.map((r) => r.wallMs))}${cpuStats(runsOf.map((r) => r.cpuMs))} (exit ${last.status}, names the cell: ${named}, @azure modules loaded: ${loaded})`);
    }
    const node = Array.from({ length: runs }, () => timedSpawn(["-e", "0"], env));
    console.log(`  for scale: an empty node process: wall ${stats(node.map((r) => r.wallMs))}${cpuStats(node.map((r) => r.cpuMs))}`);
    const load = os.loadavg()[0];
    console.log(`  load average during the run: ${load.toFixed(1)} on ${os.cpus().length} CPUs${load > os.cpus().length ? " (shared machine: CPU times are the steadier figure)" : ""}`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) void main();
