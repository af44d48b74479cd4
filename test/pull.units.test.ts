/**
 * pull's folder rules in-process: which leftovers a pull sweeps (and which files it never touches), and what a
 * local write failure leaves behind. The SIGKILL and real-disk cases run as processes in pull.kill.test.ts.
 */
import assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CliError, ExitCode } from "../scripts/lib/exitCodes";
import { parseTempName, pullFiles, PullSource, sweepLeftovers, tempNameFor } from "../scripts/lib/pull/pullFiles";

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "pull-units-"));
}

/** A source of fixed files whose download can be held or made to fail. */
function memorySource(files: Record<string, string>, o: { hold?: Promise<void>; fail?: (name: string, dest: string) => void } = {}): PullSource & { attempts: Record<string, number> } {
  const attempts: Record<string, number> = {};
  return {
    attempts,
    describe: "memory",
    list: async () => Object.entries(files).map(([name, text]) => ({ name, size: Buffer.byteLength(text) })),
    download: async (f, dest) => {
      attempts[f.name] = (attempts[f.name] ?? 0) + 1;
      fs.writeFileSync(dest, files[f.name].slice(0, 1), { flag: "wx" });
      await o.hold;
      o.fail?.(f.name, dest);
      fs.appendFileSync(dest, files[f.name].slice(1));
      return {};
    },
  };
}

describe("pull: leftovers and local write failures", () => {
  it("temporary names: .<file>.partial-<pid>-<n>, and nothing else parses as one", () => {
    const t = tempNameFor("/out/sub/a.csv", 4242, 7);
    assert.strictEqual(t, path.join("/out/sub", ".a.csv.partial-4242-7"));
    assert.deepStrictEqual(parseTempName(path.basename(t)), { file: "a.csv", pid: 4242 });
    for (const other of ["a.csv", ".a.csv.partial-", ".a.csv.partial-x-1", "a.csv.partial-1-1", ".a.csv.partial-1-1.bak", ".a.csv.partial-0-1", ".a.csv.partial-1"]) {
      assert.strictEqual(parseTempName(other), undefined, other);
    }
  });

  it("sweeps leftovers of ended processes for the files it writes; keeps a running pull's, a user's look-alikes and anything not a file", async () => {
    const dir = tmp();
    const sleeper = spawn("sleep", ["30"]);
    try {
      await new Promise((r) => sleeper.once("spawn", r));
      const gone = spawn(process.execPath, ["-e", ""]);
      const goneExited = new Promise((r) => gone.once("exit", r));
      await goneExited;
      const deadPid = gone.pid!;
      const put = (name: string) => fs.writeFileSync(path.join(dir, name), "x");
      const swept = [`.a.csv.partial-${deadPid}-1`, `.b.csv.partial-${deadPid}-2`, `.a.csv.partial-${process.pid}-99`];
      const kept = [
        `.a.csv.partial-${sleeper.pid}-3`, // a pull still running
        `.other.csv.partial-${deadPid}-4`, // not a file this pull writes
        `a.csv.partial-${deadPid}-5`,
        `.a.csv.partial-${deadPid}-6.bak`,
        ".a.csv.partial-notes",
        "a.csv",
      ];
      for (const n of [...swept, ...kept]) put(n);
      fs.mkdirSync(path.join(dir, `.b.csv.partial-${deadPid}-7`));
      fs.symlinkSync(path.join(dir, "a.csv"), path.join(dir, `.b.csv.partial-${deadPid}-8`));
      const removed = sweepLeftovers(dir, new Set(["a.csv", "b.csv"]));
      assert.deepStrictEqual(removed.map((p) => path.basename(p)).sort(), [...swept].sort());
      assert.deepStrictEqual(fs.readdirSync(dir).sort(), [...kept, `.b.csv.partial-${deadPid}-7`, `.b.csv.partial-${deadPid}-8`].sort());
      assert.deepStrictEqual(sweepLeftovers(path.join(dir, "missing"), new Set(["a.csv"])), []);
    } finally {
      sleeper.kill("SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a second pull in the same process never sweeps the first one's temporary file", async () => {
    const out = path.join(tmp(), "out");
    let release!: () => void;
    const held = memorySource({ "a.csv": "1,2\n" }, { hold: new Promise<void>((r) => (release = r)) });
    const first = pullFiles(held, out);
    while (!fs.existsSync(out) || fs.readdirSync(out).length === 0) await new Promise((r) => setTimeout(r, 5));
    const [temp] = fs.readdirSync(out);
    assert.deepStrictEqual(parseTempName(temp)?.pid, process.pid);
    const second = await pullFiles(memorySource({ "a.csv": "1,2\n" }), out);
    assert.strictEqual(second.downloaded, 1);
    assert.ok(fs.existsSync(path.join(out, temp)), "the running pull's temporary file is still there");
    release();
    const r = await first;
    assert.deepStrictEqual([r.downloaded + r.skipped, fs.readdirSync(out)], [1, ["a.csv"]]);
    assert.strictEqual(fs.readFileSync(path.join(out, "a.csv"), "utf8"), "1,2\n");
  });

  it("a full disk mid-file: exit 2 naming the folder and the cause, not retried, no temporary file, the new folder removed", async () => {
    const parent = tmp();
    const out = path.join(parent, "scores", "today");
    const src = memorySource({ "a.csv": "1\n", "sub/b.csv": "2\n" }, {
      fail: (name) => {
        if (name === "sub/b.csv") throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", errno: -28, syscall: "write" });
      },
    });
    await assert.rejects(pullFiles(src, out, { concurrency: 1 }), (e: CliError) => {
      assert.ok(e instanceof CliError, String(e));
      assert.strictEqual(e.exitCode, ExitCode.Usage);
      assert.strictEqual(e.message, `cannot write the scores into ${out}: no space left on the disk (ENOSPC, writing sub/b.csv); nothing was written`);
      assert.match(e.hint ?? "", /Free some space .* --out/);
      return true;
    });
    assert.strictEqual(src.attempts["sub/b.csv"], 1, "a local write failure is not retried");
    assert.deepStrictEqual(fs.readdirSync(parent), [], "the folders this pull created are removed again");
  });

  it("a full disk with files already there: they stay as they were, the temporary files go", async () => {
    const out = tmp();
    fs.writeFileSync(path.join(out, "a.csv"), "1\n");
    fs.writeFileSync(path.join(out, "notes.txt"), "mine\n");
    const src = memorySource({ "a.csv": "1\n", "b.csv": "2\n" }, {
      fail: () => {
        throw Object.assign(new Error("EDQUOT: disk quota exceeded, write"), { code: "EDQUOT", syscall: "write" });
      },
    });
    await assert.rejects(pullFiles(src, out), (e: CliError) => e.exitCode === ExitCode.Usage && /disk quota is used up \(EDQUOT, writing [ab]\.csv\)/.test(e.message));
    assert.deepStrictEqual(fs.readdirSync(out).sort(), ["a.csv", "notes.txt"]);
  });

  it("a source failure that is not this machine's disk is still retried (a cut connection)", async () => {
    const out = path.join(tmp(), "out");
    let cuts = 0;
    const src = memorySource({ "a.csv": "1,2,3\n" }, {
      fail: () => {
        if (cuts++ === 0) throw Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", syscall: "read" });
      },
    });
    const r = await pullFiles(src, out);
    assert.deepStrictEqual([r.downloaded, src.attempts["a.csv"], fs.readdirSync(out)], [1, 2, ["a.csv"]]);
  });
});
