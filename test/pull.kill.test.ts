/**
 * Hard kills (SIGKILL: no clean-up runs) of real `pull` and `invoke` processes (ts-node scripts/cli/*.ts) against
 * Azurite and the fake Azure ML service, before, during and after the transfer, then a re-run: the output folder
 * must end with exactly the job's scores, byte for byte, and no temporary file; an interrupted upload must never
 * count as complete. A throttling TCP proxy in front of Azurite (TLS passes through untouched) makes the kill land
 * mid-file. Also the pull's local-disk edges as a user meets them: a folder it may not write, a file-size limit.
 */
import assert from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import type { Azurite } from "./support/azurite";
import { FakeAzureML, ScriptsHarness, startScriptsHarness } from "./support/fakeAzureML";

const ROOT = path.resolve(__dirname, "..");
const SAMPLE = fs.readFileSync(path.join(ROOT, "data", "unlabeled", "heart.csv"), "utf8");
const TEMP = /^\..+\.partial-\d+-\d+$/;
/** The score file a temporary name belongs to. */
const ownerOf = (temp: string) => temp.replace(/^\.(.*)\.partial-\d+-\d+$/, "$1");

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Running {
  readonly child: ChildProcess;
  stderr(): string;
  readonly done: Promise<Result>;
}

/** A TCP proxy that passes bytes both ways at `rate` bytes per second per connection (Infinity: as they come). */
interface ThrottleProxy {
  readonly blobEndpoint: string;
  rate: number;
  stop(): Promise<void>;
}

async function startThrottleProxy(azurite: Azurite): Promise<ThrottleProxy> {
  const sockets = new Set<net.Socket>();
  const state = { rate: Infinity };
  const pump = (from: net.Socket, to: net.Socket) => {
    const queue: Buffer[] = [];
    let queued = 0;
    let timer: NodeJS.Timeout | undefined;
    const tick = () => {
      timer = undefined;
      let budget = Number.isFinite(state.rate) ? Math.max(1, Math.floor(state.rate / 50)) : Infinity;
      while (queue.length > 0 && budget > 0) {
        const head = queue[0];
        const n = Math.min(head.length, budget);
        to.write(head.subarray(0, n));
        budget -= n;
        queued -= n;
        if (n === head.length) queue.shift();
        else queue[0] = head.subarray(n);
      }
      if (queued < 16384) from.resume();
      if (queue.length > 0) timer = setTimeout(tick, 20);
    };
    from.on("data", (d: Buffer) => {
      if (!Number.isFinite(state.rate) && queued === 0) {
        to.write(d);
        return;
      }
      queue.push(d);
      queued += d.length;
      if (queued > 65536) from.pause();
      timer ??= setTimeout(tick, 20);
    });
    from.on("close", () => timer && clearTimeout(timer));
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(azurite.port, "127.0.0.1");
    sockets.add(client).add(upstream);
    pump(client, upstream);
    pump(upstream, client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    blobEndpoint: `https://127.0.0.1:${port}/${azurite.accountName}`,
    get rate() {
      return state.rate;
    },
    set rate(r: number) {
      state.rate = r;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function listAll(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else out.push(r);
    }
  };
  walk(dir, "");
  return out.sort();
}

async function until(what: string, check: () => boolean, timeoutMs = 60_000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe("pull and upload killed outright (SIGKILL), then run again (Azurite + fake Azure ML)", function () {
  this.timeout(240_000);
  let h: ScriptsHarness;
  let proxy: ThrottleProxy;
  let fake: FakeAzureML;
  let work: string;
  let job: string;
  /** The job's scores as the service wrote them: relative name → bytes. */
  let expected: Map<string, Buffer>;

  /** The shared scripts harness, with storage reached through the throttling proxy. */
  function start(cli: string, args: string[], o: { env?: Record<string, string | undefined>; uid?: number; gid?: number; shellPrefix?: string } = {}): Running {
    const node = [process.execPath, "-r", require.resolve("ts-node/register/transpile-only"), path.join(ROOT, "scripts", "cli", `${cli}.ts`), ...args];
    const env = h.env({ HEART_BLOB_ENDPOINT: proxy.blobEndpoint, ...o.env });
    const child = o.shellPrefix
      ? spawn("bash", ["-c", `${o.shellPrefix}; exec "$@"`, "bash", ...node], { cwd: work, env })
      : spawn(node[0], node.slice(1), { cwd: work, env, uid: o.uid, gid: o.gid });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const done = new Promise<Result>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
    return { child, stderr: () => stderr, done };
  }

  const run = (cli: string, args: string[], o: Parameters<typeof start>[2] = {}) => start(cli, args, o).done;
  const ok = (r: Result, what: string) => assert.strictEqual(r.code, 0, `${what} failed (${r.code} ${r.signal}):\n${r.stderr}`);

  function assertExactlyTheScores(out: string, extra: string[] = []): void {
    assert.deepStrictEqual(listAll(out), [...expected.keys(), ...extra].sort(), "the folder holds exactly the scores, no temporary file");
    for (const [name, bytes] of expected) assert.ok(fs.readFileSync(path.join(out, name)).equals(bytes), `${name}: the job's bytes`);
  }

  async function killed(r: Running): Promise<Result> {
    r.child.kill("SIGKILL");
    const res = await r.done;
    assert.strictEqual(res.signal, "SIGKILL", `the process was killed, not finished (${res.code}):\n${res.stderr}`);
    return res;
  }

  /** `count` CSV files, file i holding the sample's rows `rowsTimes(i)` times (rotated, so files differ). */
  function makeInput(name: string, count: number, rowsTimes: (i: number) => number): string {
    const dir = path.join(fs.mkdtempSync(path.join(work, "in-")), name);
    fs.mkdirSync(dir, { recursive: true });
    const [header, ...rows] = SAMPLE.trimEnd().split("\n");
    for (let i = 0; i < count; i++) {
      const body = Array.from({ length: rowsTimes(i) }, (_, k) => rows.slice((i + k) % 7).concat(rows.slice(0, (i + k) % 7))).flat();
      fs.writeFileSync(path.join(dir, `part-${i}.csv`), [header, ...body].join("\n") + "\n");
    }
    return dir;
  }

  before(async function () {
    this.timeout(300_000);
    h = await startScriptsHarness({ stepMs: 50 });
    ({ fake, work } = h);
    proxy = await startThrottleProxy(h.azurite);
    // One real job: three input files → three score files of ~50 KB, long enough to land a kill mid-file.
    const input = makeInput("kill-input", 3, () => 4);
    const inv = await run("invoke", ["--input", input, "--json"]);
    ok(inv, "invoke");
    const started = JSON.parse(inv.stdout) as { jobName: string; scoresUri: string };
    job = started.jobName;
    ok(await run("wait", [job]), "wait");
    const prefix = started.scoresUri.replace(/^azureml:\/\/datastores\/[^/]+\/paths\//, "");
    const container = fake.blobs().getContainerClient(fake.containerName);
    expected = new Map();
    for await (const b of container.listBlobsFlat({ prefix })) expected.set(b.name.slice(prefix.length), await container.getBlobClient(b.name).downloadToBuffer());
    assert.deepStrictEqual([...expected.keys()].sort(), ["part-0.csv", "part-1.csv", "part-2.csv"]);
    for (const b of expected.values()) assert.ok(b.length > 40_000, "score files big enough to cut mid-way");
  });

  after(async () => {
    await proxy?.stop();
    await h?.stop();
  });

  afterEach(() => {
    proxy.rate = Infinity;
  });

  it("killed before any byte arrived: the re-run writes exactly the scores", async () => {
    const out = path.join(work, "pulled-before");
    proxy.rate = 2000;
    const p = start("pull", [job, "--out", out]);
    await until("the pull to start downloading", () => /pulling /.test(p.stderr()));
    await killed(p);
    assert.deepStrictEqual(listAll(out).filter((f) => !TEMP.test(f)), [], "no score file in place after a kill before the download");
    proxy.rate = Infinity;
    ok(await run("pull", [job, "--out", out]), "re-run");
    assertExactlyTheScores(out);
  });

  it("killed mid-file: partial files are left; the re-run sweeps them, never a user's look-alike, and writes exactly the scores", async () => {
    const out = path.join(work, "pulled-during");
    fs.mkdirSync(out);
    // A user's files that only look like ours (no such process either): not swept.
    const lookAlikes = [".part-0.csv.partial-notes", "part-0.csv.partial-999999-1", ".other.csv.partial-999999-1", ".part-0.csv.partial-999999-1.bak"];
    const ours = (f: string) => TEMP.test(f) && !lookAlikes.includes(f);
    for (const f of lookAlikes) fs.writeFileSync(path.join(out, f), "mine\n");
    proxy.rate = 20_000;
    const p = start("pull", [job, "--out", out]);
    const partials = () => fs.readdirSync(out).filter(ours).map((f) => fs.statSync(path.join(out, f)).size);
    await until("partial files with some bytes", () => partials().some((n) => n > 0));
    await killed(p);
    const left = fs.readdirSync(out).filter(ours);
    assert.ok(left.length > 0, "the kill left temporary files (the case the sweep is for)");
    assert.ok(left.some((f) => fs.statSync(path.join(out, f)).size < expected.get(ownerOf(f))!.length), "a file was cut mid-way");
    assert.deepStrictEqual(listAll(out).filter((f) => !ours(f) && !lookAlikes.includes(f)), [], "nothing renamed into place mid-download");
    proxy.rate = Infinity;
    const again = await run("pull", [job, "--out", out, "--json"]);
    ok(again, "re-run");
    assert.deepStrictEqual(JSON.parse(again.stdout).downloaded, 3);
    assertExactlyTheScores(out, lookAlikes);
    for (const f of lookAlikes) assert.strictEqual(fs.readFileSync(path.join(out, f), "utf8"), "mine\n");
  });

  it("killed once every byte was on disk (while renaming or just after): the re-run skips what is in place and completes the rest", async () => {
    const out = path.join(work, "pulled-after");
    proxy.rate = 60_000;
    const p = start("pull", [job, "--out", out]);
    const total = [...expected.values()].reduce((n, b) => n + b.length, 0);
    // A file renamed between the listing and the stat counts 0 this time round.
    const onDisk = () => listAll(out).reduce((n, f) => n + (fs.statSync(path.join(out, f), { throwIfNoEntry: false })?.size ?? 0), 0);
    await until("every byte on disk", () => onDisk() >= total, 60_000, 2);
    p.child.kill("SIGKILL");
    const r = await p.done;
    assert.ok(r.signal === "SIGKILL" || r.code === 0, `killed or finished: ${r.code} ${r.signal}\n${r.stderr}`);
    for (const f of listAll(out)) {
      const name = TEMP.test(f) ? ownerOf(f) : f;
      assert.ok(expected.has(name), `only scores or their temporary files: ${f}`);
      if (!TEMP.test(f)) assert.ok(fs.readFileSync(path.join(out, f)).equals(expected.get(f)!), `${f} in place is whole`);
    }
    ok(await run("pull", [job, "--out", out]), "re-run");
    assertExactlyTheScores(out);
  });

  it("an upload killed mid-way is not taken as complete: the re-run of invoke uploads it again and the job scores it", async () => {
    // Sizes 1x to 7x the sample: the files finish one after another, so a kill can land between them.
    const input = makeInput("upload-kill", 4, (i) => 1 + 2 * i);
    const jobsBefore = fake.jobs.size;
    const container = fake.blobs().getContainerClient(fake.containerName);
    const uploaded = async () => {
      const names: string[] = [];
      for await (const b of container.listBlobsFlat({ prefix: "LocalUpload/" })) if (b.name.includes("/upload-kill/")) names.push(b.name);
      return names;
    };
    proxy.rate = 30_000;
    const p = start("invoke", ["--input", input]);
    // Killed while the first files are being written (the blob of a file in flight appears only once it is
    // complete: wait for one, so the upload is really part-way).
    const deadline = Date.now() + 90_000;
    while ((await uploaded()).length === 0) {
      assert.ok(Date.now() < deadline, `no blob uploaded in time:\n${p.stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await killed(p);
    const partial = await uploaded();
    assert.ok(partial.length < 4, `the kill landed before the last file (${partial.length} of 4 there)`);
    const indicator = partial.sort()[0].replace(/part-\d\.csv$/, "part-0.csv");
    const props = await container.getBlobClient(indicator).getProperties().catch(() => undefined);
    assert.notStrictEqual(props?.metadata?.upload_status, "completed", "not marked complete");
    assert.strictEqual(fake.jobs.size, jobsBefore, "no job started from a part-uploaded folder");

    proxy.rate = Infinity;
    const again = await run("invoke", ["--input", input]);
    ok(again, "invoke again");
    assert.match(again.stderr, /uploaded 4 files/, "uploaded again, not 'already uploaded'");
    const names = (await uploaded()).sort();
    assert.strictEqual(names.length, 4);
    for (const n of names) assert.ok((await container.getBlobClient(n).downloadToBuffer()).equals(fs.readFileSync(path.join(input, path.basename(n)))), `${n}: the local bytes`);
    assert.strictEqual((await container.getBlobClient(names[0]).getProperties()).metadata?.upload_status, "completed");
    const newJob = again.stdout.trim();
    ok(await run("wait", [newJob]), "wait");
    const out = path.join(work, "pulled-upload-kill");
    ok(await run("pull", [newJob, "--out", out]), "pull");
    assert.deepStrictEqual(listAll(out), ["part-0.csv", "part-1.csv", "part-2.csv", "part-3.csv"]);
  });

  describe("the output folder cannot take the files: exit 2, the cause named, nothing written", () => {
    /** Runs pull as an unprivileged user when the tests run as root (root ignores folder permissions). */
    function asUser(ctx: Mocha.Context): { uid?: number; gid?: number; env: Record<string, string> } {
      if (process.getuid?.() !== 0) return { env: {} };
      // The unprivileged user must be able to read the checkout (a clone in a private folder, such as
      // mktemp's 0700, is not): without that the case cannot be played here, so it is skipped, not faked.
      const probe = spawnSync(process.execPath, ["-e", `require(${JSON.stringify(require.resolve("ts-node/register/transpile-only"))})`], { uid: 65534, gid: 65534 });
      if (probe.status !== 0) {
        console.warn(`      (skipped: uid 65534 cannot read ${ROOT}; root ignores folder permissions, so this case needs an unprivileged user)`);
        ctx.skip();
      }
      // What the unprivileged process needs to read: the certificate, the stack outputs, the fake az.
      const cert = path.join(work, "ca.pem");
      fs.copyFileSync(process.env.NODE_EXTRA_CA_CERTS!, cert);
      for (const p of [work, h.az.dir]) fs.chmodSync(p, 0o755);
      fs.chmodSync(h.az.logFile, 0o666);
      for (const f of [cert, h.outputsFile]) fs.chmodSync(f, 0o644);
      return { uid: 65534, gid: 65534, env: { NODE_EXTRA_CA_CERTS: cert, HEART_TEST_TLS_CERT: cert } };
    }

    it("a read-only folder", async function () {
      const user = asUser(this);
      const out = path.join(work, "read-only");
      fs.mkdirSync(out);
      fs.chmodSync(out, 0o555);
      const r = await run("pull", [job, "--out", out], { uid: user.uid, gid: user.gid, env: user.env });
      assert.strictEqual(r.code, 2, r.stderr);
      assert.match(r.stderr, /cannot write the scores into .*read-only: permission denied \(EACCES, writing part-\d\.csv\); nothing was written/);
      assert.match(r.stderr, /--out/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
      assert.deepStrictEqual(fs.readdirSync(out), []);
    });

    it("a new folder under a read-only one: not created", async function () {
      const user = asUser(this);
      const parent = path.join(work, "read-only-parent");
      fs.mkdirSync(parent);
      fs.chmodSync(parent, 0o555);
      const r = await run("pull", [job, "--out", path.join(parent, "scores", "today")], { uid: user.uid, gid: user.gid, env: user.env });
      assert.strictEqual(r.code, 2, r.stderr);
      assert.match(r.stderr, /cannot write the scores into .*today: permission denied \(EACCES\); nothing was written/);
      assert.deepStrictEqual(fs.readdirSync(parent), []);
    });

    it("a file-size limit hit mid-file (ulimit -f, EFBIG): no retry, every temporary file and the new folder removed", async () => {
      fs.mkdirSync(path.join(work, "size-limit"));
      const out = path.join(work, "size-limit", "scores");
      const r = await run("pull", [job, "--out", out], { shellPrefix: "ulimit -f 20" });
      assert.strictEqual(r.code, 2, r.stderr);
      assert.match(r.stderr, /cannot write the scores into .*size-limit\/scores: a file is larger than the file system or this process's file-size limit allows \(EFBIG, writing part-\d\.csv\); nothing was written/);
      assert.doesNotMatch(r.stderr, /attempts/, "a local write error is not retried");
      assert.ok(!fs.existsSync(out), "the folder this pull created is gone again");
      assert.deepStrictEqual(fs.readdirSync(path.join(work, "size-limit")), []);
    });

    it("--out below an existing file: exit 2 before any service call", async () => {
      const file = path.join(work, "a-file");
      fs.writeFileSync(file, "x\n");
      const n = fake.requests.length;
      const r = await run("pull", [job, "--out", path.join(file, "scores")]);
      assert.strictEqual(r.code, 2, r.stderr);
      assert.match(r.stderr, /a-file is a file, not a folder/);
      assert.strictEqual(fake.requests.length, n);
      assert.strictEqual(fs.readFileSync(file, "utf8"), "x\n");
    });
  });
});
