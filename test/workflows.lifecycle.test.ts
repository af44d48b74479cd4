/**
 * The workflows played as GitHub runs them: each event of a pull request's life (opened, first push with the
 * label, second push, label removed, closed), a merge to main and the schedule, each run on a fresh runner (a
 * new checkout of the committed files, nothing kept from the run before). For every run the test evaluates the
 * `on:` filters and the jobs' `if:` expressions, resolves env/vars/secrets per step, and checks:
 *  - who can act: pull-request jobs get the Reader identity and no secret unless they run in the approved
 *    environment (required reviewers), the deploy identity appears only in approved environments, secrets only
 *    as environment secrets, and never in a step that runs `npm ci` (which installs without scripts wherever
 *    the job can mint ID tokens);
 *  - what they rely on: every npm script and file a step calls exists; the per-PR stack's config is written on
 *    the runner before any pulumi command needs it, by actually running that step on two fresh runners, whose
 *    files must be byte-identical and pass the stack's config validation.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse } from "yaml";
import { validateConfig, RawConfig } from "../infra/config";
import { prStackConfig, PrConfigError } from "../.github/scripts/pr-stack-config";

const ROOT = path.resolve(__dirname, "..");
type Obj = Record<string, any>;

// ---------------------------------------------------------------- GitHub expressions (the subset the workflows use)

type Val = string | number | boolean | null | undefined | Val[] | Obj;
const SECRET = (name: string) => `\u0000secret:${name}\u0000`;

function tokenize(src: string): string[] {
  const out: string[] = [];
  const re = /\s*('(?:[^']|'')*'|==|!=|&&|\|\||[()!,]|[A-Za-z_][A-Za-z0-9_.*-]*|\d+)/y;
  const text = src.trim();
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) throw new Error(`cannot parse expression at: ${text.slice(at)}`);
    out.push(m[1]);
    at = re.lastIndex;
  }
  return out;
}

function lookup(ctx: Obj, dotted: string): Val {
  let cur: Val[] = [ctx];
  let spread = false;
  for (const part of dotted.split(".")) {
    if (part === "*") {
      spread = true;
      cur = cur.flatMap((c) => (Array.isArray(c) ? c : []));
      continue;
    }
    cur = cur.map((c) => (c && typeof c === "object" && !Array.isArray(c) ? (c as Obj)[part] : undefined));
  }
  return spread ? cur : cur[0];
}

export function evaluate(expr: string, ctx: Obj): Val {
  const t = tokenize(expr.replace(/^\s*\$\{\{([\s\S]*)\}\}\s*$/, "$1"));
  let i = 0;
  const truthy = (v: Val) => !(v === undefined || v === null || v === false || v === "" || v === 0);
  const primary = (): Val => {
    const tok = t[i++];
    if (tok === "(") {
      const v = or();
      if (t[i++] !== ")") throw new Error(`missing ) in ${expr}`);
      return v;
    }
    if (tok === "!") return !truthy(primary());
    if (tok.startsWith("'")) return tok.slice(1, -1).replace(/''/g, "'");
    if (/^\d+$/.test(tok)) return Number(tok);
    if (tok === "true" || tok === "false") return tok === "true";
    if (t[i] === "(") {
      i++;
      const args: Val[] = [];
      while (t[i] !== ")") {
        args.push(or());
        if (t[i] === ",") i++;
      }
      i++;
      if (tok === "contains") return Array.isArray(args[0]) ? args[0].includes(args[1]) : String(args[0] ?? "").includes(String(args[1]));
      if (tok === "failure" || tok === "cancelled") return false;
      if (tok === "success" || tok === "always") return true;
      throw new Error(`unknown function ${tok}`);
    }
    return lookup(ctx, tok);
  };
  const cmp = (): Val => {
    let v = primary();
    while (t[i] === "==" || t[i] === "!=") {
      const op = t[i++];
      const r = primary();
      v = op === "==" ? v === r : v !== r;
    }
    return v;
  };
  const and = (): Val => {
    let v = cmp();
    while (t[i] === "&&") {
      i++;
      const r = cmp();
      v = truthy(v) ? r : v;
    }
    return v;
  };
  const or = (): Val => {
    let v = and();
    while (t[i] === "||") {
      i++;
      const r = and();
      v = truthy(v) ? v : r;
    }
    return v;
  };
  const v = or();
  if (i !== t.length) throw new Error(`trailing tokens in ${expr}`);
  return v;
}

const interpolate = (s: string, ctx: Obj) => s.replace(/\$\{\{([\s\S]*?)\}\}/g, (_, e) => String(evaluate(e, ctx) ?? ""));
const isTrue = (cond: unknown, ctx: Obj) => cond === undefined || Boolean(evaluate(String(cond), ctx));

// ---------------------------------------------------------------- events, runs and steps

interface PrEvent {
  readonly name: "pull_request";
  readonly action: string;
  readonly labels: string[];
  readonly label?: string;
  readonly fromFork?: boolean;
}
type Event = PrEvent | { readonly name: "push"; readonly branch: string } | { readonly name: "schedule" };

const REPO = "acme/heart";
const VARS: Obj = {
  PULUMI_ORG: "acme",
  AZURE_CLIENT_ID: "deploy-id",
  AZURE_READER_CLIENT_ID: "reader-id",
  AZURE_SCORER_CLIENT_ID: "scorer-id",
  AZURE_TENANT_ID: "tenant",
  AZURE_SUBSCRIPTION_ID: "sub",
  PULUMI_READ_TEAM: "ci-readers",
};
/** Environments whose protection rules the README asks for: who approves, or which branch may use them. */
const APPROVED = new Set(["pr-stacks", "shared-stack"]);
const IDENTITY_OF: Record<string, string> = { "deploy-id": "deploy", "reader-id": "reader", "scorer-id": "scorer" };

function context(ev: Event): Obj {
  const pr = ev.name === "pull_request" ? ev : undefined;
  return {
    github: {
      repository: REPO,
      event_name: ev.name,
      sha: "0123abc",
      run_id: "77",
      run_attempt: "1",
      ref: ev.name === "push" ? `refs/heads/${ev.branch}` : "refs/heads/main",
      event: pr
        ? {
            action: pr.action,
            label: pr.label ? { name: pr.label } : undefined,
            pull_request: {
              number: 42,
              labels: pr.labels.map((name) => ({ name })),
              head: { repo: { full_name: pr.fromFork ? "mallory/heart" : REPO }, sha: "feedbee", ref: "topic" },
              base: { ref: "main" },
            },
          }
        : {},
    },
    vars: VARS,
    secrets: new Proxy({}, { get: (_t, name) => SECRET(String(name)) }),
    inputs: {},
    steps: { stack: { outputs: { exists: "true" } } },
  };
}

function triggers(wf: Obj, ev: Event): boolean {
  const on = wf.on as Obj;
  if (!(ev.name in on)) return false;
  const f = (on[ev.name] ?? {}) as Obj;
  if (ev.name === "pull_request") {
    const types: string[] = f.types ?? ["opened", "synchronize", "reopened"];
    return types.includes(ev.action) && (!f.branches || (f.branches as string[]).includes("main"));
  }
  if (ev.name === "push") return !f.branches || (f.branches as string[]).includes(ev.branch);
  return true;
}

interface StepRun {
  readonly job: string;
  readonly name: string;
  readonly run?: string;
  readonly uses?: string;
  readonly with?: Obj;
  /** Effective environment (workflow + job + step), expressions resolved; secrets as markers. */
  readonly env: Record<string, string>;
}
interface JobRun {
  readonly workflow: string;
  readonly id: string;
  readonly environment?: string;
  readonly permissions: Obj;
  readonly steps: StepRun[];
}

function loadWorkflows(): Record<string, Obj> {
  const dir = path.join(ROOT, ".github", "workflows");
  return Object.fromEntries(fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => [f, parse(fs.readFileSync(path.join(dir, f), "utf8")) as Obj]));
}

/** The jobs and steps GitHub would run for this event (every `needs` assumed to succeed). */
function plan(workflows: Record<string, Obj>, ev: Event): JobRun[] {
  const ctx = context(ev);
  const runs: JobRun[] = [];
  for (const [file, wf] of Object.entries(workflows)) {
    if (!triggers(wf, ev)) continue;
    const wfEnv = Object.fromEntries(Object.entries((wf.env ?? {}) as Obj).map(([k, v]) => [k, interpolate(String(v), ctx)]));
    for (const [id, job] of Object.entries(wf.jobs as Obj)) {
      if (!isTrue(job.if, ctx)) continue;
      const jobEnv = { ...wfEnv, ...Object.fromEntries(Object.entries((job.env ?? {}) as Obj).map(([k, v]) => [k, interpolate(String(v), ctx)])) };
      const steps: StepRun[] = [];
      for (const [i, s] of ((job.steps ?? []) as Obj[]).entries()) {
        if (!isTrue(s.if, ctx)) continue;
        const env = { ...jobEnv, ...Object.fromEntries(Object.entries((s.env ?? {}) as Obj).map(([k, v]) => [k, interpolate(String(v), ctx)])) };
        const withs = s.with ? Object.fromEntries(Object.entries(s.with as Obj).map(([k, v]) => [k, typeof v === "string" ? interpolate(v, ctx) : v])) : undefined;
        steps.push({ job: id, name: String(s.name ?? s.uses ?? s.run ?? i + 1), run: typeof s.run === "string" ? s.run : undefined, uses: s.uses, with: withs, env });
      }
      runs.push({ workflow: file, id, environment: job.environment, permissions: (job.permissions ?? wf.permissions) as Obj, steps });
    }
  }
  return runs;
}

const secretsIn = (env: Record<string, string>) => Object.entries(env).filter(([, v]) => v.includes("\u0000secret:")).map(([k]) => k);
const mintsIdTokens = (j: JobRun) => j.permissions?.["id-token"] === "write";
const installs = (s: StepRun) => s.run !== undefined && /\bnpm\s+(ci|install|i)\b/.test(s.run);

/** The problems with one run: the rules of the module comment. */
export function auditRun(ev: Event, jobs: JobRun[]): string[] {
  const problems: string[] = [];
  for (const j of jobs) {
    const where = `${j.workflow} ${j.id} (${ev.name}${"action" in ev ? `:${ev.action}` : ""})`;
    const identities = new Set(j.steps.map((s) => IDENTITY_OF[s.env.ARM_CLIENT_ID]).filter(Boolean));
    const usesSecrets = j.steps.some((s) => secretsIn(s.env).length > 0 || JSON.stringify(s.with ?? {}).includes("\u0000secret:"));
    if (identities.size > 1) problems.push(`${where}: more than one Azure identity (${[...identities].join(", ")})`);
    if (identities.has("deploy") && !(j.environment && APPROVED.has(j.environment))) problems.push(`${where}: the deploy identity outside an approved environment`);
    if (usesSecrets && !j.environment) problems.push(`${where}: reads a secret outside a GitHub environment (repository secrets reach any same-repo pull request's code)`);
    if (ev.name === "pull_request" && j.environment !== "pr-stacks") {
      if (usesSecrets) problems.push(`${where}: pull-request code sees a secret without approval`);
      if (mintsIdTokens(j) && [...identities].some((x) => x !== "reader")) problems.push(`${where}: pull-request code can sign in as ${[...identities].join(", ")} without approval`);
    }
    for (const s of j.steps.filter(installs)) {
      const leaked = secretsIn(s.env);
      if (leaked.length > 0) problems.push(`${where}: step "${s.name}" runs npm install scripts with ${leaked.join(", ")} in its environment`);
      if (mintsIdTokens(j) && !/--ignore-scripts\b/.test(s.run!)) problems.push(`${where}: step "${s.name}" runs dependency install scripts in a job that can mint ID tokens`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------- a fresh runner that really runs the cloud-free steps

const COMMITTED = spawnSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" }).stdout.split("\0").filter(Boolean);

class Runner {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "runner-"));
  readonly commands: string[] = [];
  constructor() {
    // A checkout: the committed files (as they are in this working tree), and the installed dependencies.
    for (const f of new Set([...COMMITTED, ".github/scripts/pr-stack-config.ts"])) {
      const src = path.join(ROOT, f);
      if (!fs.existsSync(src) || fs.statSync(src).isDirectory()) continue;
      fs.mkdirSync(path.dirname(path.join(this.dir, f)), { recursive: true });
      fs.copyFileSync(src, path.join(this.dir, f));
    }
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(this.dir, "node_modules"));
  }
  has(file: string): boolean {
    return fs.existsSync(path.join(this.dir, file));
  }
  read(file: string): string {
    return fs.readFileSync(path.join(this.dir, file), "utf8");
  }
  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const CLOUD = /\b(pulumi|npm run (deploy|destroy|preview|score|jobs|invoke|wait|pull))\b/;
const bashEnv = (env: Record<string, string>) => ({ PATH: process.env.PATH!, HOME: os.tmpdir(), ...env });

/** Runs a job's steps on `runner`: cloud-free `run:` steps for real, the others recorded with their preconditions. */
function play(job: JobRun, runner: Runner, scripts: Record<string, string>): string[] {
  const problems: string[] = [];
  for (const s of job.steps) {
    if (!s.run) continue;
    for (const m of s.run.matchAll(/\bnpm\s+(?:run|run-script)\s+([A-Za-z0-9:_.-]+)/g)) if (!(m[1] in scripts)) problems.push(`step "${s.name}" calls npm run ${m[1]}, which package.json lacks`);
    for (const m of s.run.matchAll(/(?:^|\s)((?:\.github|scripts|test)\/[\w./-]+\.(?:ts|js|sh))\b/g)) if (!runner.has(m[1])) problems.push(`step "${s.name}" runs ${m[1]}, which is not in the checkout`);
    const stack = /--stack\s+"\$PR_STACK"|pulumi stack select --create "\$PR_STACK"|HEART_PULUMI_STACK/.test(s.run) ? s.env.PR_STACK : undefined;
    if (installs(s) || /\bnpm (test|t)\b/.test(s.run)) {
      runner.commands.push(s.run.trim()); // the checkout already has node_modules
      continue;
    }
    if (CLOUD.test(s.run)) {
      runner.commands.push(s.run.trim());
      // Anything that runs the program (up, score reading outputs, destroy) needs the PR stack's config file on this runner.
      if (stack && /npm run (deploy|destroy|score)/.test(s.run)) {
        const file = `Pulumi.${stack.split("/").pop()}.yaml`;
        if (!runner.has(file)) problems.push(`step "${s.name}" runs on a fresh runner without ${file}`);
      }
      continue;
    }
    const r = spawnSync("bash", ["-eo", "pipefail", "-c", s.run], { cwd: runner.dir, env: bashEnv(Object.fromEntries(Object.entries(s.env).filter(([, v]) => !v.includes("\u0000")))), encoding: "utf8", timeout: 120_000 });
    if (r.status !== 0) problems.push(`step "${s.name}" failed (${r.status}): ${r.stderr}`);
    runner.commands.push(s.run.trim());
  }
  return problems;
}

const CONFIG_NS = "heart-batch-scoring";
function validates(yamlText: string): void {
  const config = (parse(yamlText) as { config: Obj }).config;
  const raw: RawConfig = {};
  for (const [k, v] of Object.entries(config)) raw[k.slice(CONFIG_NS.length + 1) as keyof RawConfig] = typeof v === "string" ? v : JSON.stringify(v);
  validateConfig(raw, { namespace: CONFIG_NS, modelNames: ["heart-classifier", "heart-classifier-transforms"], folderExists: (f) => fs.existsSync(path.resolve(ROOT, f)) });
}

// ---------------------------------------------------------------- the lifecycle

describe("workflows as runs on fresh runners (GitHub's event sequence)", function () {
  this.timeout(180_000);
  const workflows = loadWorkflows();
  const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
  const runners: Runner[] = [];
  after(() => runners.forEach((r) => r.remove()));
  const fresh = () => {
    const r = new Runner();
    runners.push(r);
    return r;
  };
  const names = (jobs: JobRun[]) => jobs.map((j) => `${j.workflow}:${j.id}`).sort();

  const opened: PrEvent = { name: "pull_request", action: "opened", labels: [] };
  const labeled: PrEvent = { name: "pull_request", action: "labeled", labels: ["pr-stack"], label: "pr-stack" };
  const push2: PrEvent = { name: "pull_request", action: "synchronize", labels: ["pr-stack"] };
  const unlabeled: PrEvent = { name: "pull_request", action: "unlabeled", labels: [], label: "pr-stack" };
  const closedAfter: PrEvent = { name: "pull_request", action: "closed", labels: [] };
  const closedWith: PrEvent = { name: "pull_request", action: "closed", labels: ["pr-stack"] };

  it("which jobs each event runs", () => {
    assert.deepStrictEqual(names(plan(workflows, opened)), ["pr-preview.yml:preview", "pr-preview.yml:test"]);
    assert.deepStrictEqual(names(plan(workflows, labeled)), ["pr-stack.yml:deploy"]);
    assert.deepStrictEqual(names(plan(workflows, push2)), ["pr-preview.yml:preview", "pr-preview.yml:test", "pr-stack.yml:deploy"]);
    assert.deepStrictEqual(names(plan(workflows, unlabeled)), ["pr-stack.yml:destroy"]);
    assert.deepStrictEqual(names(plan(workflows, closedAfter)), [], "label already removed: nothing left to destroy");
    assert.deepStrictEqual(names(plan(workflows, closedWith)), ["pr-stack.yml:destroy"]);
    assert.deepStrictEqual(names(plan(workflows, { ...push2, fromFork: true })), ["pr-preview.yml:test"], "a fork's pull request runs the tests only");
    assert.deepStrictEqual(names(plan(workflows, { name: "push", branch: "main" })), ["deploy.yml:test", "deploy.yml:up"]);
    assert.deepStrictEqual(names(plan(workflows, { name: "push", branch: "topic" })), []);
    assert.deepStrictEqual(names(plan(workflows, { name: "schedule" })), ["scheduled-scoring.yml:score"]);
  });

  it("who can act: identities, secrets and install scripts per run", () => {
    const events: Event[] = [opened, labeled, push2, unlabeled, closedWith, { name: "push", branch: "main" }, { name: "schedule" }];
    assert.deepStrictEqual(events.flatMap((ev) => auditRun(ev, plan(workflows, ev))), []);
    const preview = plan(workflows, opened).find((j) => j.id === "preview")!;
    assert.ok(preview.steps.every((s) => s.env.ARM_CLIENT_ID === "reader-id"), "the preview signs in as the Reader");
    assert.ok(!preview.steps.some((s) => "PULUMI_ACCESS_TOKEN" in s.env), "no stored Pulumi token in the preview");
    assert.ok(preview.steps.some((s) => s.uses?.startsWith("pulumi/auth-actions@") && s.with?.scope === "team:ci-readers"), "a read-only team token from OIDC");
    const deploy = plan(workflows, labeled)[0];
    assert.strictEqual(deploy.environment, "pr-stacks");
    assert.ok(deploy.steps.every((s) => s.env.ARM_CLIENT_ID === "deploy-id"));
    const score = plan(workflows, { name: "schedule" })[0];
    assert.ok(score.steps.every((s) => s.env.ARM_CLIENT_ID === "scorer-id" && !("PULUMI_ACCESS_TOKEN" in s.env)));
    assert.ok(!score.steps.some((s) => s.uses?.startsWith("azure/login@")), "no Azure CLI login: the scripts take fresh ID tokens themselves");
    assert.ok(!JSON.stringify(workflows).includes("50m"), "no wait capped by a sign-in's token lifetime");
  });

  it("the audit catches a pull-request job with the deploy identity, a repository secret or install scripts with tokens", () => {
    const bad: Record<string, Obj> = {
      "bad.yml": {
        on: { pull_request: {} },
        permissions: { contents: "read", "id-token": "write" },
        env: { ARM_CLIENT_ID: "${{ vars.AZURE_CLIENT_ID }}", PULUMI_ACCESS_TOKEN: "${{ secrets.PULUMI_ACCESS_TOKEN }}" },
        jobs: { j: { steps: [{ run: "npm ci" }, { run: "npm run deploy" }] } },
      },
    };
    const problems = auditRun(opened, plan(bad, opened)).join("\n");
    assert.match(problems, /the deploy identity outside an approved environment/);
    assert.match(problems, /reads a secret outside a GitHub environment/);
    assert.match(problems, /pull-request code sees a secret without approval/);
    assert.match(problems, /pull-request code can sign in as deploy without approval/);
    assert.match(problems, /runs npm install scripts with PULUMI_ACCESS_TOKEN/);
    assert.match(problems, /runs dependency install scripts in a job that can mint ID tokens/);
  });

  it("per-PR stack: first push and second push on two fresh runners rebuild the same, valid config before pulumi needs it", () => {
    const first = fresh();
    const second = fresh();
    const [deploy1] = plan(workflows, labeled);
    const [deploy2] = plan(workflows, push2).filter((j) => j.workflow === "pr-stack.yml");
    assert.deepStrictEqual(play(deploy1, first, scripts), []);
    assert.ok(!second.has("Pulumi.pr-42.yaml"), "the second runner starts without the first one's files");
    assert.deepStrictEqual(play(deploy2, second, scripts), []);
    const text = first.read("Pulumi.pr-42.yaml");
    assert.strictEqual(second.read("Pulumi.pr-42.yaml"), text, "byte-identical on both runners");
    validates(text);
    const config = (parse(text) as { config: Obj }).config;
    assert.strictEqual(config[`${CONFIG_NS}:computeName`], "pr-42");
    assert.strictEqual(config[`${CONFIG_NS}:tags`].environment, "pr-42");
    assert.strictEqual(config[`${CONFIG_NS}:minNodes`], 0);
    const base = (parse(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as { config: Obj }).config;
    assert.strictEqual(config[`${CONFIG_NS}:workspaceName`], base[`${CONFIG_NS}:workspaceName`], "the shared stack's workspace");
    const order = (r: Runner) => r.commands.map((c) => (/pr-stack-config/.test(c) ? "config" : /npm run deploy/.test(c) ? "deploy" : /npm run score/.test(c) ? "score" : /pulumi stack select/.test(c) ? "select" : "other"));
    assert.deepStrictEqual(order(second).filter((c) => c !== "other"), ["select", "config", "deploy", "score"]);
  });

  it("label removed, on a third fresh runner: the config is rebuilt, jobs cancelled, then destroy and stack rm", () => {
    const third = fresh();
    const [destroy] = plan(workflows, unlabeled);
    assert.deepStrictEqual(play(destroy, third, scripts), []);
    const cmds = third.commands.join("\n");
    assert.ok(cmds.indexOf("npm run jobs -- --cancel") < cmds.indexOf("npm run destroy") && cmds.indexOf("npm run destroy") < cmds.indexOf("pulumi stack rm"), cmds);
    assert.ok(third.has("Pulumi.pr-42.yaml"));
  });

  it("merge to main and the schedule, each on a fresh runner: the commands and files they rely on exist", () => {
    for (const ev of [{ name: "push", branch: "main" }, { name: "schedule" }] as Event[]) {
      for (const job of plan(workflows, ev).filter((j) => j.id !== "test")) {
        const r = fresh();
        assert.deepStrictEqual(play(job, r, scripts), [], `${job.workflow} ${job.id}`);
        assert.match(r.commands.join("\n"), job.id === "up" ? /npm run deploy -- --stack "\$STACK" --refresh/ : /npm run score -- --target azure [\s\S]*--timeout 5h40m/);
      }
    }
  });

  it("a run without the config step fails the fresh-runner check (the test can fail)", () => {
    const r = fresh();
    const [deploy] = plan(workflows, labeled);
    const stripped: JobRun = { ...deploy, steps: deploy.steps.filter((s) => !/pr-stack-config/.test(s.run ?? "")) };
    assert.match(play(stripped, r, scripts).join("\n"), /runs on a fresh runner without Pulumi\.pr-42\.yaml/);
  });

  it("the config script refuses what a PR stack cannot reuse, and bad arguments, with exit 2 and nothing written", () => {
    assert.throws(() => prStackConfig("config:\n  p:token:\n    secure: AAAA\n", "p", 1), (e: Error) => e instanceof PrConfigError && /p:token is a secret, encrypted for that stack only/.test(e.message));
    assert.throws(() => prStackConfig("config: {}\n", "p", 0), /--pr must be a pull request number/);
    assert.throws(() => prStackConfig("name: x\n", "p", 3), /has no config: mapping/);
    const r = fresh();
    const run = (args: string[]) => spawnSync(process.execPath, ["scripts/cli/launch.js", ".github/scripts/pr-stack-config.ts", ...args], { cwd: r.dir, encoding: "utf8" });
    const missing = run(["--base", "acme/nope", "--pr", "7"]);
    assert.strictEqual(missing.status, 2, missing.stderr);
    assert.match(missing.stderr, /Pulumi\.nope\.yaml not found: the shared stack's config must be committed/);
    assert.strictEqual(run(["--pr", "x"]).status, 2);
    assert.ok(!r.has("Pulumi.pr-7.yaml"));
    const ok = run(["--base", "acme/dev", "--pr", "7"]);
    assert.strictEqual(ok.status, 0, ok.stderr);
    assert.ok(r.has("Pulumi.pr-7.yaml") && ok.stdout.trim().endsWith("Pulumi.pr-7.yaml"));
  });

  it("evaluates GitHub expressions the way the workflows need", () => {
    const ctx = { a: { list: [{ name: "x" }, { name: "y" }] }, s: "v", vars: {} };
    assert.strictEqual(evaluate("contains(a.list.*.name, 'y') && s == 'v'", ctx), true);
    assert.strictEqual(evaluate("${{ vars.X || 'dev' }}", ctx), "dev");
    assert.strictEqual(evaluate("(s == 'w') || !(s == 'v')", ctx), false);
  });
});
