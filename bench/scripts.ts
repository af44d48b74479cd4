/**
 * Benchmark of the scripts' storage paths and polling, against Azurite (run: npx ts-node --transpile-only bench/scripts.ts):
 *  - upload (lib/folderUpload) and download (pull) throughput for many small files and a few large ones, each as a
 *    ratio to a plain parallel @azure/storage-blob baseline (same concurrency; uploadFile per file, and list +
 *    downloadToFile per blob) measured in the same run, paired round by round (BENCH_ROUNDS, default 5);
 *    ratio > 1 means faster than the baseline;
 *  - service calls `wait` makes per minute of job time (the real wait loop on a time-scaled job);
 *  - time from `invoke` to refusal on a bad input (in-process check, and the whole CLI process).
 * Prints figures; asserts nothing. Makes its own throw-away TLS certificate (Azurite speaks HTTPS).
 */
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..");

function ensureTls(): void {
  if (process.env.HEART_TEST_TLS_CERT && process.env.NODE_EXTRA_CA_CERTS === process.env.HEART_TEST_TLS_CERT) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-tls-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", `${dir}/key.pem`, "-out", `${dir}/cert.pem`], { stdio: "ignore" });
  // NODE_EXTRA_CA_CERTS is read only at start-up: run again with it.
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, HEART_TEST_TLS_CERT: `${dir}/cert.pem`, HEART_TEST_TLS_KEY: `${dir}/key.pem`, NODE_EXTRA_CA_CERTS: `${dir}/cert.pem` },
  });
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(r.status ?? 1);
}

async function main(): Promise<void> {
  ensureTls();
  const { BlobServiceClient } = await import("@azure/storage-blob");
  const { startAzurite } = await import("../test/support/azurite");
  const { TestTokenCredential } = await import("../test/support/tokens");
  const { uploadFolder } = await import("../lib/folderUpload");
  const { pullFiles } = await import("../scripts/lib/pull/pullFiles");
  const { blobFolderSource } = await import("../scripts/lib/pull/sources");
  const { waitForFinal } = await import("../scripts/lib/targets/waitLoop");
  const { checkInvokeInput } = await import("../scripts/lib/targets/commands");

  const concurrency = 8;
  // The machine is shared and loaded: every figure is a median over several rounds, and each round runs the
  // baseline and this project's code back to back in alternating order (so neither always runs on a warmer or a
  // quieter machine); the ratio is the median of the per-round ratios. Client CPU time (this process; Azurite
  // is another process) is steadier than wall time on a loaded machine and is printed beside it.
  const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS) || 5);
  const azurite = await startAzurite();
  const credential = new TestTokenCredential();
  const service = new BlobServiceClient(azurite.blobEndpoint, credential);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "bench-scripts-"));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const mbs = (bytes: number, ms: number) => (bytes / 1048576 / (ms / 1000)).toFixed(1);

  async function pool<T>(items: T[], work: (t: T) => Promise<unknown>): Promise<void> {
    let i = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (i < items.length) await work(items[i++]);
    }));
  }
  async function timed(fn: () => Promise<unknown>): Promise<{ ms: number; cpuMs: number }> {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await fn();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
  }
  type Pair = { base: { ms: number; cpuMs: number }; ours: { ms: number; cpuMs: number } };
  async function pair(round: number, base: () => Promise<unknown>, ours: () => Promise<unknown>): Promise<Pair> {
    if (round % 2 === 0) {
      const b = await timed(base);
      return { base: b, ours: await timed(ours) };
    }
    const o = await timed(ours);
    return { ours: o, base: await timed(base) };
  }
  function summary(what: string, bytes: number, pairs: Pair[]): string {
    const base = median(pairs.map((p) => p.base.ms));
    const ours = median(pairs.map((p) => p.ours.ms));
    const ratio = median(pairs.map((p) => p.base.ms / p.ours.ms));
    const cpuRatio = median(pairs.map((p) => p.base.cpuMs / p.ours.cpuMs));
    return `${what} ${mbs(bytes, ours)} MB/s vs baseline ${mbs(bytes, base)} MB/s (ratio ${ratio.toFixed(2)}; CPU ratio ${cpuRatio.toFixed(2)}; per round ${pairs.map((p) => (p.base.ms / p.ours.ms).toFixed(2)).join(" ")})`;
  }

  // A plain folder download: list the prefix, then download every blob in parallel.
  async function plainDownload(from: { container: string; prefix: string }, dir: string): Promise<void> {
    fs.mkdirSync(dir, { recursive: true });
    const c = new BlobServiceClient(azurite.blobEndpoint, credential).getContainerClient(from.container);
    const names: string[] = [];
    for await (const b of c.listBlobsFlat({ prefix: from.prefix })) names.push(b.name);
    await pool(names, (n) => c.getBlobClient(n).downloadToFile(path.join(dir, path.basename(n))));
  }
  // The alternative measured for large files: each blob in RANGE_BYTES ranges fetched in parallel, written in
  // place and MD5-hashed in order (so ranges that arrive early are held in memory).
  const RANGE_BYTES = 8 * 1048576;
  async function rangedDownload(from: { container: string; prefix: string }, dir: string): Promise<void> {
    fs.mkdirSync(dir, { recursive: true });
    const c = new BlobServiceClient(azurite.blobEndpoint, credential).getContainerClient(from.container);
    const blobs: { name: string; size: number }[] = [];
    for await (const b of c.listBlobsFlat({ prefix: from.prefix })) blobs.push({ name: b.name, size: b.properties.contentLength ?? 0 });
    await pool(blobs, async (b) => {
      const fh = await fs.promises.open(path.join(dir, path.basename(b.name)), "wx");
      const md5 = crypto.createHash("md5");
      try {
        const parts = Array.from({ length: Math.ceil(b.size / RANGE_BYTES) }, async (_, i) => {
          const res = await c.getBlobClient(b.name).download(i * RANGE_BYTES, Math.min(RANGE_BYTES, b.size - i * RANGE_BYTES));
          const chunks: Buffer[] = [];
          for await (const chunk of res.readableStreamBody!) chunks.push(chunk as Buffer);
          return Buffer.concat(chunks);
        });
        let at = 0;
        for (const part of parts) {
          const buf = await part;
          md5.update(buf);
          await fh.write(buf, 0, buf.length, at);
          at += buf.length;
        }
      } finally {
        await fh.close();
      }
      md5.digest("base64");
    });
  }

  const sets = [
    { name: "500 small files (4 KiB)", count: 500, size: 4096 },
    { name: "4 large files (32 MiB)", count: 4, size: 32 * 1048576 },
  ];
  console.log(`bench/scripts: Azurite (in-memory, HTTPS), concurrency ${concurrency}, ${rounds} rounds (medians)`);
  try {
    for (const [s, set] of sets.entries()) {
      const dir = path.join(work, set.name.replace(/\W+/g, "-"));
      fs.mkdirSync(dir, { recursive: true });
      const files = Array.from({ length: set.count }, (_, i) => `part-${String(i).padStart(4, "0")}.csv`);
      for (const f of files) fs.writeFileSync(path.join(dir, f), crypto.randomBytes(set.size));
      const bytes = set.count * set.size;
      const ups: Pair[] = [];
      const downs: Pair[] = [];
      const ranged: Pair[] = [];
      let source: { container: string; prefix: string } | undefined;
      for (let r = 0; r < rounds; r++) {
        // A fresh container per round: the project's upload skips content already there.
        const containerName = `bench-${s}-${r}`;
        const container = service.getContainerClient(containerName);
        await container.create();
        ups.push(
          await pair(
            r,
            () => {
              // A client of its own, as the project's upload makes one (fresh connections for both), and blob names
              // of the same shape and length (Azurite's time per request grows with the name).
              const to = new BlobServiceClient(azurite.blobEndpoint, credential).getContainerClient(containerName);
              const at = `LocalUpload/${crypto.randomBytes(32).toString("hex")}/${path.basename(dir)}`;
              return pool(files, (f) => to.getBlockBlobClient(`${at}/${f}`).uploadFile(path.join(dir, f)));
            },
            () => uploadFolder(dir, { blobServiceUrl: azurite.blobEndpoint, containerName, credential }, { concurrency }),
          ),
        );
        source ??= { container: containerName, prefix: `${(await uploadFolder(dir, { blobServiceUrl: azurite.blobEndpoint, containerName, credential })).path}/` };
        const baseDir = path.join(work, `down-base-${s}-${r}`);
        const pullDir = path.join(work, `down-pull-${s}-${r}`);
        fs.mkdirSync(baseDir);
        downs.push(
          await pair(
            r,
            () => plainDownload(source!, baseDir),
            () => pullFiles(blobFolderSource({ blobServiceUrl: azurite.blobEndpoint, containerName: source!.container, prefix: source!.prefix, credential }), pullDir, { concurrency }),
          ),
        );
        fs.rmSync(baseDir, { recursive: true, force: true });
        if (set.size >= RANGE_BYTES * 2) ranged.push(await pair(r, () => plainDownload(source!, baseDir), () => rangedDownload(source!, path.join(work, `down-ranged-${s}-${r}`))));
        for (const d of [baseDir, pullDir, path.join(work, `down-ranged-${s}-${r}`)]) fs.rmSync(d, { recursive: true, force: true });
        if (r > 0) await container.delete();
      }
      console.log(`  ${set.name}: ${summary("upload", bytes, ups)}`);
      console.log(`  ${set.name}: ${summary("pull", bytes, downs)}`);
      if (ranged.length > 0) console.log(`  ${set.name}: ${summary(`ranged parallel download (${RANGE_BYTES / 1048576} MiB ranges, in-order MD5; not used)`, bytes, ranged)}`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await azurite.stop();
  }

  if (process.env.BENCH_TRANSFERS_ONLY) {
    fs.rmSync(work, { recursive: true, force: true });
    return;
  }

  // wait: the real loop with the default schedule (5 s first interval, x1.5 per unchanged answer, 60 s cap),
  // time-scaled 1000x; status changes at the start and then Running until the end.
  const scale = 1000;
  for (const minutes of [1, 10, 60]) {
    const jobMs = (minutes * 60_000) / scale;
    const start = Date.now();
    const statuses = ["Preparing", "Queued", "Running"];
    const r = await waitForFinal({
      poll: async () => {
        const e = Date.now() - start;
        const status = e >= jobMs ? "Completed" : statuses[Math.min(2, Math.floor(e / (jobMs / 6)))];
        return { status, final: status === "Completed" };
      },
      intervalMs: 5000 / scale,
      maxIntervalMs: 60_000 / scale,
    });
    console.log(`  wait on a ${minutes}-minute job: ${r.calls} status calls (${(r.calls / minutes).toFixed(1)} per minute of job time)`);
  }

  // Refusal of a bad input: 200 CSV files of 1 MiB each, one missing a column.
  const bad = path.join(work, "bad-input");
  fs.mkdirSync(bad);
  const header = "age,sex,cp,trestbps,chol,fbs,restecg,thalach,exang,oldpeak,slope,ca,thal";
  const body = "63,1,1,145,233,1,2,150,0,2.3,3,0,fixed\n".repeat(26000);
  for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(bad, `f${i}.csv`), `${i === 137 ? header.replace(",chol", "") : header}\n${body}`);
  let t = process.hrtime.bigint();
  try {
    checkInvokeInput(bad, "append", () => undefined, true);
  } catch {
    // expected
  }
  const inProc = Number(process.hrtime.bigint() - t) / 1e6;
  t = process.hrtime.bigint();
  const cli = spawnSync(process.execPath, ["-r", require.resolve("ts-node/register/transpile-only"), path.join(ROOT, "scripts/cli/invoke.ts"), "--input", bad], {
    env: { ...process.env, HEART_STACK_OUTPUTS: "/nonexistent" },
    encoding: "utf8",
  });
  const whole = Number(process.hrtime.bigint() - t) / 1e6;
  console.log(`  refusal of a bad input (200 CSVs x 1 MiB, one missing 'chol'): check ${inProc.toFixed(1)} ms in-process; whole invoke process ${whole.toFixed(0)} ms (exit ${cli.status}, includes node + ts-node start-up)`);
  fs.rmSync(work, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
