/**
 * The CLI frame every script shares (scripts/lib/cli.ts): errors become a one-line message and the documented
 * exit code, however the command's main fails; flags, env fallbacks and durations parse as documented.
 */
import assert from "assert";
import { spawnSync } from "child_process";
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
