/**
 * The CLI frame every script shares (scripts/lib/cli.ts): errors become a one-line message and the documented
 * exit code, however the command's main fails; flags, env fallbacks and durations parse as documented.
 */
import assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CommandSpec, formatHelp, parseCommandLine, parseDurationSeconds } from "../scripts/lib/cli";
import { CliError, ExitCode } from "../scripts/lib/exitCodes";

const ROOT = path.resolve(__dirname, "..");

/** Runs `runCli("demo", main)` in a child process with the given main body; returns its exit code and stderr. */
function runDemo(mainSource: string): { status: number | null; stderr: string } {
  const code = `
    const { runCli } = require(${JSON.stringify(path.join(ROOT, "scripts/lib/cli"))});
    const { CliError, ExitCode } = require(${JSON.stringify(path.join(ROOT, "scripts/lib/exitCodes"))});
    runCli("demo", ${mainSource});`;
  const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", code], { cwd: ROOT, encoding: "utf8" });
  return { status: r.status, stderr: r.stderr };
}

const spec: CommandSpec = {
  name: "demo",
  summary: "A demo command.",
  usage: "demo [--mode m]",
  flags: {
    mode: { type: "string", description: "Mode.", env: "DEMO_MODE", default: "a" },
    fast: { type: "boolean", description: "Go fast.", env: "DEMO_FAST" },
  },
};

describe("scripts/lib/cli: the shared command-line frame", () => {
  it("a CliError thrown before main's first await still exits with its code and a clean message", () => {
    const r = runDemo(`() => { throw new CliError(ExitCode.Usage, "bad flag --x"); }`);
    assert.strictEqual(r.status, 2);
    assert.match(r.stderr, /^demo: error: bad flag --x$/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  });

  it("a CliError from an async main exits with its code", () => {
    const r = runDemo(`async () => { throw new CliError(ExitCode.Timeout, "too slow"); }`);
    assert.strictEqual(r.status, 3);
    assert.match(r.stderr, /demo: error: too slow/);
  });

  it("any other error is an internal error, exit 70, message without a stack", () => {
    const r = runDemo(`async () => { throw new Error("boom"); }`);
    assert.strictEqual(r.status, 70);
    assert.match(r.stderr, /demo: internal error: boom/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it("main's return value is the exit code", () => {
    assert.strictEqual(runDemo(`async () => 1`).status, 1);
    assert.strictEqual(runDemo(`async () => undefined`).status, 0);
  });

  it("unknown flags and malformed values are usage errors naming the flag", () => {
    assert.throws(() => parseCommandLine(spec, ["--nope"], {}), (e: CliError) => e.exitCode === ExitCode.Usage && /--nope/.test(e.message));
    assert.throws(() => parseCommandLine(spec, ["--fast=1"], {}), (e: CliError) => e.exitCode === ExitCode.Usage && /--fast/.test(e.message));
  });

  it("flags win over env variables, env variables over defaults; booleans from env are checked", () => {
    assert.strictEqual(parseCommandLine(spec, [], {}).values.mode, "a");
    assert.strictEqual(parseCommandLine(spec, [], { DEMO_MODE: "b" }).values.mode, "b");
    assert.strictEqual(parseCommandLine(spec, ["--mode", "c"], { DEMO_MODE: "b" }).values.mode, "c");
    assert.strictEqual(parseCommandLine(spec, [], { DEMO_FAST: "yes" }).values.fast, true);
    assert.throws(() => parseCommandLine(spec, [], { DEMO_FAST: "maybe" }), (e: CliError) => e.exitCode === ExitCode.Usage && /DEMO_FAST/.test(e.message));
  });

  it("durations: 90, 90s, 15m, 2h, 1h30m; anything else or zero is refused with the flag's name", () => {
    assert.deepStrictEqual(["90", "90s", "15m", "2h", "1h30m"].map((d) => parseDurationSeconds("timeout", d)), [90, 90, 900, 7200, 5400]);
    for (const bad of ["", "0", "1d", "m", "-5", "1.5h"]) {
      assert.throws(() => parseDurationSeconds("timeout", bad), (e: CliError) => e.exitCode === ExitCode.Usage && /--timeout/.test(e.message), bad);
    }
  });

  it("help lists every flag with its env variable and default, and the exit codes", () => {
    const help = formatHelp(spec);
    assert.match(help, /--mode <value>\s+Mode\. \(default: a; env: DEMO_MODE\)/);
    assert.match(help, /--fast\s+Go fast\. \(env: DEMO_FAST\)/);
    assert.match(help, /130\s+interrupted/);
  });
});

/** Runs a CLI through the launcher (as the npm scripts do) with a probe that reports the @azure modules loaded. */
function runLaunched(args: string[], env: NodeJS.ProcessEnv, probeDir: string): { status: number | null; stdout: string; stderr: string; azureModules: number } {
  const probe = path.join(probeDir, "probe.js");
  fs.writeFileSync(probe, `process.on("exit", () => require("fs").writeSync(2, "\\nazure-modules-loaded=" + Object.keys(require.cache).filter((k) => k.includes(${JSON.stringify(`${path.sep}@azure${path.sep}`)})).length + "\\n"));\n`);
  const r = spawnSync(process.execPath, ["-r", probe, path.join(ROOT, "scripts/cli/launch.js"), ...args], { cwd: ROOT, encoding: "utf8", env, timeout: 90_000 });
  const m = /\nazure-modules-loaded=(\d+)\n/.exec(r.stderr);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.replace(/\nazure-modules-loaded=\d+\n/, ""), azureModules: m ? Number(m[1]) : -1 };
}

describe("scripts: refused before the Azure SDKs load; the launcher; --workers", function () {
  this.timeout(180_000);
  let work: string;
  const header = "age,sex,cp,trestbps,chol,fbs,restecg,thalach,exang,oldpeak,slope,ca,thal";
  // No pulumi, no az on PATH; nothing from the developer's environment.
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({ PATH: path.dirname(process.execPath), HOME: work, HEART_TS_CACHE: path.join(work, "ts-cache"), ...extra });

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "cli-launch-"));
    fs.mkdirSync(path.join(work, "bad"));
    fs.writeFileSync(path.join(work, "bad", "a.csv"), `${header}\n63,1,1,145,233,1,2,150,0,2.3,3,0,fixed\nsixty,1,1,145,233,1,2,150,0,2.3,3,0,fixed\n`);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it("a bad cell, a bad flag and missing configuration: exit 2, the message, and no @azure module loaded", () => {
    const settings = { HEART_SUBSCRIPTION_ID: "s", HEART_RESOURCE_GROUP: "rg", HEART_WORKSPACE: "w", HEART_ENDPOINT_NAME: "e" };
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [["invoke", "--input", path.join(work, "bad")], settings, /a\.csv: column 'age' must be numeric, but data row 2 holds 'sixty' \(line 3/],
      [["run", "--input", path.join(work, "bad"), "--target", "local"], {}, /a\.csv: column 'age' must be numeric/],
      [["run-pipeline", "--input", path.join(work, "bad")], settings, /a\.csv: column 'age' must be numeric/],
      [["invoke", "--input", "data/unlabeled", "--target", "cloud"], settings, /--target must be azure or local/],
      [["wait", "job-1", "--timeout", "soon"], settings, /--timeout must be a duration/],
      [["invoke", "--input", "data/unlabeled", "--bogus"], settings, /Unknown option '--bogus'/],
      [["invoke", "--input", "data/unlabeled"], {}, /missing configuration:[^]*endpointName: --endpoint, env HEART_ENDPOINT_NAME/],
      [["jobs"], { HEART_STACK_OUTPUTS: path.join(work, "nope.json") }, /stack outputs file .*nope\.json cannot be read/],
    ];
    for (const [args, extra, message] of cases) {
      const r = runLaunched(args, env(extra), work);
      assert.strictEqual(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(" "));
      assert.strictEqual(r.azureModules, 0, `${args.join(" ")} loaded the Azure SDKs before refusing`);
    }
  });

  it("control: once the checks pass the SDKs are loaded (a sign-in that fails here: exit 4)", () => {
    const r = runLaunched(["jobs"], env({ HEART_SUBSCRIPTION_ID: "s", HEART_RESOURCE_GROUP: "rg", HEART_WORKSPACE: "w", HEART_ENDPOINT_NAME: "e", HEART_ARM_ENDPOINT: "https://127.0.0.1:9", AZURE_TOKEN_CREDENTIALS: "AzureCliCredential" }), work);
    assert.strictEqual(r.status, 4, r.stderr);
    assert.ok(r.azureModules > 0, "the probe sees @azure modules");
  });

  it("launch.js runs every CLI (--help); transpiles a file once, then starts from its cache without TypeScript; an edit is picked up", () => {
    for (const cli of ["invoke", "wait", "pull", "run", "run-pipeline", "jobs"]) {
      const r = runLaunched([cli, "--help"], env(), work);
      assert.strictEqual(r.status, 0, `${cli}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: ${cli} `, "m"));
      assert.strictEqual(r.azureModules, 0, `${cli} --help loaded the Azure SDKs`);
    }
    const file = path.join(work, "hello.ts");
    const tsLoaded = `Object.keys(require.cache).some((k) => k.includes(${JSON.stringify(`${path.sep}typescript${path.sep}`)}))`;
    fs.writeFileSync(file, `const n: number = 1;\nconsole.log(JSON.stringify({ n, ts: ${tsLoaded} }));\n`);
    const cache = path.join(work, "hello-cache");
    const launch = () => JSON.parse(spawnSync(process.execPath, [path.join(ROOT, "scripts/cli/launch.js"), file], { encoding: "utf8", env: { ...env(), HEART_TS_CACHE: cache } }).stdout);
    assert.deepStrictEqual(launch(), { n: 1, ts: true }, "first run transpiles");
    assert.deepStrictEqual(launch(), { n: 1, ts: false }, "second run starts from the cache");
    fs.writeFileSync(file, `const n: number = 2;\nconsole.log(JSON.stringify({ n, ts: ${tsLoaded} }));\n`);
    assert.deepStrictEqual(launch(), { n: 2, ts: true }, "an edited file is transpiled again, never stale");
    const r = spawnSync(process.execPath, [path.join(ROOT, "scripts/cli/launch.js"), "no-such-command"], { encoding: "utf8" });
    assert.strictEqual(r.status, 2);
    assert.match(r.stderr, /no such command 'no-such-command'/);
  });

  it("invoke --target local --workers 1: the local runner is given workers: 1", async function () {
    if (!fs.existsSync("/proc/self/cmdline")) this.skip();
    const runs = path.join(work, "runs");
    const r = runLaunched(["invoke", "--target", "local", "--input", "data/unlabeled", "--workers", "1", "--runs-dir", runs, "--json"], env(), work);
    assert.strictEqual(r.status, 0, r.stderr);
    const id = JSON.parse(r.stdout).jobName as string;
    const file = path.join(runs, id, "run.json");
    const record = JSON.parse(fs.readFileSync(file, "utf8")) as { steps: Array<{ name: string; workers?: number }>; runner: { pid: number } };
    try {
      // The run's process was started with the runner's options (its one argument), workers among them ...
      const argv = fs.readFileSync(`/proc/${record.runner.pid}/cmdline`, "utf8").split("\0");
      assert.strictEqual(JSON.parse(argv[argv.length - 2]).workers, 1, argv.join(" "));
      // ... and every parallel step the runner planned has that many.
      for (const s of record.steps.filter((x) => x.workers !== undefined)) assert.strictEqual(s.workers, 1, s.name);
    } finally {
      // Stop the detached run and wait until it has ended, so the folder can go.
      try {
        process.kill(record.runner.pid, "SIGTERM");
      } catch {
        // already ended
      }
      for (let i = 0; i < 300; i++) {
        const status = JSON.parse(fs.readFileSync(file, "utf8")).status as string;
        if (["Completed", "Failed", "Canceled"].includes(status)) break;
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  });
});
