/**
 * scripts/ensure-python.sh, the set-up step both README commands run first (npm's prestart/pretest), played on
 * the paths a fresh or foreign machine takes: an interpreter that loads no .pth files (so nothing an earlier
 * install left behind pre-imports importlib.util), a module that is really absent from Debian's python3 (hidden
 * with a private mount namespace), apt failing, and a user who is not root. Each failure must end with the exact
 * command to run by hand and exit 1; nothing is installed behind the user's back.
 */
import assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..");
const SCRIPT = path.join(ROOT, "scripts/ensure-python.sh");
const DEBIAN_PYTHON = "/usr/bin/python3";
const DIST = "/usr/lib/python3/dist-packages";

function run(args: string[], env: NodeJS.ProcessEnv = {}, prefix: string[] = []) {
  const argv = prefix.length ? prefix : ["bash", SCRIPT, ...args];
  const r = spawnSync(argv[0], argv.slice(1), {
    cwd: ROOT, encoding: "utf8", env: { ...process.env, HEART_PYTHON: DEBIAN_PYTHON, ...env }, timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

/** A folder of fake commands put first on PATH. */
function fakeBin(dir: string, commands: Record<string, string>): string {
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin, { recursive: true });
  for (const [name, body] of Object.entries(commands)) {
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  }
  return `${bin}:${process.env.PATH}`;
}

/** True when this process may make a private mount namespace (root on Linux with util-linux's unshare). */
function canUnshare(): boolean {
  return spawnSync("unshare", ["-m", "true"]).status === 0;
}

/**
 * Runs ensure-python.sh with Debian's own python3 in a private mount namespace where `module` is hidden (an
 * empty folder mounted over its package folder): the module is really absent for /usr/bin/python3 there.
 */
function runWithModuleHidden(module: string, args: string[], env: NodeJS.ProcessEnv) {
  const script = `mount -t tmpfs none ${DIST}/${module} && exec bash ${SCRIPT} ${args.join(" ")}`;
  return run([], env, ["unshare", "-m", "bash", "-c", script]);
}

describe("scripts/ensure-python.sh: the README commands' set-up step", function () {
  this.timeout(120_000);
  let tmp: string;
  beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ensure-python-")); });
  afterEach(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

  it("finds the modules with an interpreter that loads no .pth file (a fresh machine has none pre-importing importlib.util)", () => {
    // python3 -S skips site and every .pth file; Debian's dist-packages is put back on the path by hand.
    const wrapper = path.join(tmp, "python-nosite");
    fs.writeFileSync(wrapper, `#!/bin/sh\nPYTHONPATH=${DIST} exec ${DEBIAN_PYTHON} -S "$@"\n`, { mode: 0o755 });
    const r = run(["--with-tests"], { HEART_PYTHON: wrapper });
    assert.strictEqual(r.status, 0, r.stderr);
    assert.strictEqual(r.stderr, "", "nothing to say when everything is there");
  });

  it("an interpreter lacking modules: names them and the packages, gives the exact command, exits 1", () => {
    const wrapper = path.join(tmp, "python-bare");
    fs.mkdirSync(path.join(tmp, "empty"));
    fs.writeFileSync(wrapper, `#!/bin/sh\nPYTHONPATH=${tmp}/empty exec ${DEBIAN_PYTHON} -S "$@"\n`, { mode: 0o755 });
    const r = run(["--with-tests"], { HEART_PYTHON: wrapper });
    assert.strictEqual(r.status, 1);
    assert.match(r.stderr, /missing: pandas sklearn xgboost yaml pytest matplotlib/);
    assert.match(r.stderr, /not Debian's python3, so apt cannot install into it/);
    assert.match(r.stderr, /apt-get update && apt-get install -y --no-install-recommends python3-pandas python3-sklearn python3-xgboost python3-yaml python3-pytest python3-matplotlib/);
    assert.match(r.stderr, /HEART_PYTHON=/);
  });

  it("no interpreter at all: asks for python3 too", () => {
    const r = run([], { HEART_PYTHON: path.join(tmp, "no-such-python") });
    assert.strictEqual(r.status, 1);
    assert.match(r.stderr, /apt-get install -y --no-install-recommends python3 python3-pandas/);
  });

  it("an unknown option is a usage error (exit 2)", () => {
    const r = run(["--with-everything"]);
    assert.strictEqual(r.status, 2);
    assert.match(r.stderr, /usage: ensure-python.sh/);
  });

  describe("Debian's python3 with a module really absent (private mount namespace)", function () {
    before(function () { if (!canUnshare()) this.skip(); });

    it("not root: says apt needs root and prints the command, installs nothing", () => {
      const PATH = fakeBin(tmp, { id: 'case "$1" in -u) echo 1000;; -un) echo builder;; *) exec /usr/bin/id "$@";; esac', "apt-get": `echo called >> ${tmp}/apt-called; exit 0` });
      const r = runWithModuleHidden("xgboost", [], { PATH });
      assert.strictEqual(r.status, 1, r.stderr);
      assert.match(r.stderr, /apt needs root, and this is builder/);
      assert.match(r.stderr, /apt-get install -y --no-install-recommends python3-xgboost$/m);
      assert.ok(!fs.existsSync(path.join(tmp, "apt-called")), "apt-get must not run");
    });

    it("apt fails (no network): says which apt step failed and prints the command", () => {
      const PATH = fakeBin(tmp, { "apt-get": `echo "$@" >> ${tmp}/apt-called; [ "$1" = update ] && { echo 'E: Could not resolve host' >&2; exit 100; }; exit 0` });
      const r = runWithModuleHidden("xgboost", [], { PATH });
      assert.strictEqual(r.status, 1, r.stderr);
      assert.match(r.stderr, /installing python3-xgboost with apt/);
      assert.match(r.stderr, /E: Could not resolve host/, "apt's own message is shown");
      assert.match(r.stderr, /'apt-get update' failed/);
      assert.match(r.stderr, /apt-get update && apt-get install -y --no-install-recommends python3-xgboost$/m);
      assert.deepStrictEqual(fs.readFileSync(path.join(tmp, "apt-called"), "utf8").trim().split("\n"), ["update -qq"]);
    });

    it("apt 'succeeds' but the module is still absent: says so instead of carrying on", () => {
      const PATH = fakeBin(tmp, { "apt-get": `echo "$@" >> ${tmp}/apt-called; exit 0` });
      const r = runWithModuleHidden("yaml", ["--with-tests"], { PATH });
      assert.strictEqual(r.status, 1, r.stderr);
      assert.match(r.stderr, /still lacks: yaml/);
      const calls = fs.readFileSync(path.join(tmp, "apt-called"), "utf8").trim().split("\n");
      assert.deepStrictEqual(calls, ["update -qq", "install -y -qq --no-install-recommends python3-yaml"], "installs only what is missing, without Recommends");
    });
  });
});
