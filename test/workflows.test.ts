/**
 * The GitHub Actions workflows, checked as data: every file parses; every npm script a step calls exists in
 * package.json and is documented in README.md; every secret and variable a workflow reads is listed in README.md's
 * "Secrets and variables" section; every job has a timeout; permissions are explicit and least-privilege; jobs
 * that sign in with OpenID Connect (Azure through ARM_USE_OIDC or azure/login, Pulumi Cloud through
 * pulumi/auth-actions) request `id-token: write`; third-party actions are pinned to a
 * commit; `run:` scripts do not splice in user-controlled text.
 * Each check is a pure function, also run against a broken in-memory workflow so its failure message is known.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parseDocument } from "yaml";

const ROOT = path.resolve(__dirname, "..");
const WORKFLOW_DIR = path.join(ROOT, ".github", "workflows");

type Obj = Record<string, unknown>;
interface Workflow {
  readonly file: string;
  readonly doc: Obj;
}
interface Context {
  readonly scripts: ReadonlySet<string>;
  readonly readme: string | undefined;
}
type Check = (wf: Workflow, ctx: Context) => string[];

const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);

function jobsOf(wf: Workflow): [string, Obj][] {
  return isObj(wf.doc.jobs) ? Object.entries(wf.doc.jobs).filter((e): e is [string, Obj] => isObj(e[1])) : [];
}

function stepsOf(job: Obj): Obj[] {
  return Array.isArray(job.steps) ? job.steps.filter(isObj) : [];
}

/** Every string anywhere in the document (keys excluded), with a path for messages. */
function strings(value: unknown, at = ""): [string, string][] {
  if (typeof value === "string") return [[at, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => strings(v, `${at}[${i}]`));
  if (isObj(value)) return Object.entries(value).flatMap(([k, v]) => strings(v, at ? `${at}.${k}` : k));
  return [];
}

/** npm scripts a shell script runs: `npm run X`, `npm run-script X`, `npm start`, `npm test` (`npm t`). */
export function npmScriptsIn(script: string): string[] {
  const out: string[] = [];
  for (const m of script.matchAll(/\bnpm\s+(?:run|run-script)\s+([A-Za-z0-9:_.-]+)/g)) out.push(m[1]);
  for (const m of script.matchAll(/\bnpm\s+(start|test|t|stop|restart)\b/g)) out.push(m[1] === "t" ? "test" : m[1]);
  return out;
}

/** `npm run X -- <args>` calls in a shell script, with the flags passed to the script (`--name`). */
export function npmCallsIn(script: string): { name: string; flags: string[] }[] {
  const joined = script.replace(/\\\n/g, " ");
  const out: { name: string; flags: string[] }[] = [];
  for (const m of joined.matchAll(/\bnpm\s+(?:run|run-script)\s+([A-Za-z0-9:_.-]+)([^\n;&|]*)/g)) {
    const rest = m[2].split(/\s2?>/)[0];
    const afterDashes = /(?:^|\s)--(\s.*)$/.exec(rest);
    const flags = afterDashes ? [...afterDashes[1].matchAll(/(?:^|\s)(--[A-Za-z][A-Za-z0-9-]*)/g)].map((f) => f[1]) : [];
    out.push({ name: m[1], flags });
  }
  return out;
}

/** `secrets.X`, `vars.X`, `secrets['X']` in an expression-bearing string. */
export function contextReadsIn(text: string): { kind: "secrets" | "vars"; name: string }[] {
  const out: { kind: "secrets" | "vars"; name: string }[] = [];
  for (const m of text.matchAll(/\b(secrets|vars)\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\])/g)) {
    out.push({ kind: m[1] as "secrets" | "vars", name: m[2] ?? m[3] });
  }
  return out;
}

/** The body of README's "Secrets and variables" section (up to the next heading of the same or a higher level). */
export function secretsSection(readme: string): string | undefined {
  const lines = readme.split(/\r?\n/);
  const start = lines.findIndex((l) => /^#{1,6}\s+Secrets and variables\b/i.test(l));
  if (start < 0) return undefined;
  const level = /^(#+)/.exec(lines[start])![1].length;
  const end = lines.findIndex((l, i) => i > start && /^(#+)\s/.test(l) && /^(#+)/.exec(l)![1].length <= level);
  return lines.slice(start + 1, end < 0 ? undefined : end).join("\n");
}

const runScripts = (wf: Workflow): { where: string; script: string }[] =>
  jobsOf(wf).flatMap(([id, job]) =>
    stepsOf(job)
      .map((s, i) => ({ where: `job ${id} step ${String(s.name ?? i + 1)}`, script: s.run }))
      .filter((r): r is { where: string; script: string } => typeof r.script === "string"),
  );

export const checkNpmScriptsExist: Check = (wf, ctx) =>
  runScripts(wf).flatMap(({ where, script }) =>
    npmScriptsIn(script)
      .filter((s) => !ctx.scripts.has(s))
      .map((s) => `${wf.file}: ${where} runs npm script "${s}", which package.json does not define (scripts: ${[...ctx.scripts].join(", ")})`),
  );

export const checkNpmScriptsDocumented: Check = (wf, ctx) =>
  runScripts(wf).flatMap(({ where, script }) =>
    npmScriptsIn(script)
      .filter((s) => {
        if (ctx.readme === undefined) return true;
        const call = s === "start" || s === "test" ? new RegExp(`\\bnpm (?:run )?${s}\\b`) : new RegExp(`\\bnpm run ${s.replace(/[.]/g, "\\.")}\\b`);
        return !call.test(ctx.readme);
      })
      .map((s) => `${wf.file}: ${where} runs npm script "${s}", which README.md does not document (no "npm ${s === "start" || s === "test" ? "" : "run "}${s}" in it)`),
  );

export const checkSecretsAndVarsListed: Check = (wf, ctx) => {
  const section = ctx.readme === undefined ? undefined : secretsSection(ctx.readme);
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [at, text] of strings(wf.doc)) {
    for (const { kind, name } of contextReadsIn(text)) {
      const key = `${kind}.${name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (section === undefined) problems.push(`${wf.file}: ${at} reads ${key}, but README.md has no "Secrets and variables" section listing it`);
      else if (!new RegExp(`\\b${name}\\b`).test(section)) problems.push(`${wf.file}: ${at} reads ${key}, which README.md's "Secrets and variables" section does not list`);
    }
  }
  return problems;
};

export const checkJobTimeouts: Check = (wf) =>
  jobsOf(wf)
    .filter(([, job]) => typeof job.uses !== "string") // a reusable-workflow call cannot set one; the callee's jobs do
    .filter(([, job]) => !(typeof job["timeout-minutes"] === "number" || (typeof job["timeout-minutes"] === "string" && job["timeout-minutes"].includes("${{"))))
    .map(([id]) => `${wf.file}: job ${id} has no timeout-minutes (the default is 6 hours of billed runner time)`);

/** Actions that exchange the job's GitHub ID token (Azure, Pulumi Cloud). */
const OIDC_LOGIN = /^(azure\/login|pulumi\/auth-actions)@/i;

function usesOidc(job: Obj, wf: Workflow): boolean {
  const env = { ...(isObj(wf.doc.env) ? wf.doc.env : {}), ...(isObj(job.env) ? job.env : {}) };
  return (
    stepsOf(job).some((s) => (typeof s.uses === "string" && OIDC_LOGIN.test(s.uses)) || (isObj(s.env) && String(s.env.ARM_USE_OIDC ?? "") === "true")) ||
    String(env.ARM_USE_OIDC ?? "") === "true"
  );
}

export const checkPermissions: Check = (wf) => {
  const problems: string[] = [];
  const top = wf.doc.permissions;
  const jobs = jobsOf(wf);
  if (top === undefined && jobs.some(([, job]) => job.permissions === undefined)) {
    problems.push(`${wf.file}: no top-level permissions, and not every job sets its own (the token would get the repository's default scopes)`);
  }
  const broad = (p: unknown) => p === "write-all" || p === "read-all";
  if (broad(top)) problems.push(`${wf.file}: permissions: ${String(top)} is not least privilege; list the scopes it needs`);
  if (isObj(top) && top["id-token"] === "write") problems.push(`${wf.file}: id-token: write at the top level; grant it only to the jobs that sign in`);
  for (const [id, job] of jobs) {
    if (broad(job.permissions)) problems.push(`${wf.file}: job ${id} has permissions: ${String(job.permissions)}; list the scopes it needs`);
    const effective = job.permissions !== undefined ? job.permissions : top;
    if (usesOidc(job, wf) && !(isObj(effective) && effective["id-token"] === "write")) {
      problems.push(`${wf.file}: job ${id} signs in to Azure with OpenID Connect but does not request permissions id-token: write`);
    }
  }
  return problems;
};

export const checkActionsPinned: Check = (wf) =>
  jobsOf(wf).flatMap(([id, job]) =>
    stepsOf(job)
      .map((s) => s.uses)
      .filter((u): u is string => typeof u === "string" && !u.startsWith("./") && !u.startsWith("docker://"))
      .filter((u) => !/@[0-9a-f]{40}$/.test(u))
      .map((u) => `${wf.file}: job ${id} uses ${u}, not pinned to a full commit SHA (add the version as a comment)`),
  );

/** Text an outsider controls must reach a script through env, never spliced into it (script injection). */
const UNTRUSTED = /\$\{\{\s*(inputs\.|github\.event\.(?:pull_request\.(?:title|body|head\.ref|head\.label)|issue\.|comment\.|label\.name|head_commit\.message)|github\.head_ref)/;
export const checkNoScriptInjection: Check = (wf) =>
  runScripts(wf)
    .filter(({ script }) => UNTRUSTED.test(script))
    .map(({ where, script }) => `${wf.file}: ${where} splices ${UNTRUSTED.exec(script)![0]}… into its script; pass it through env instead`);

/**
 * The `--help` text of a project CLI an npm script runs with ts-node (`ts-node scripts/cli/x.ts ...`) or the
 * launcher (`node scripts/cli/launch.js x ...`), or undefined.
 */
function cliHelp(command: string | undefined): string | undefined {
  const launched = command === undefined ? null : /^node\s+scripts\/cli\/launch\.js\s+([\w-]+)\b/.exec(command);
  const m = launched ? [launched[0], `scripts/cli/${launched[1]}.ts`] : command === undefined ? null : /^ts-node(?:\s+-\S+)*\s+(\S+\.ts)\b/.exec(command);
  if (!m) return undefined;
  const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(ROOT, m[1]), "--help"], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return r.status === 0 ? r.stdout : `(--help failed with exit ${r.status}: ${r.stderr})`;
}

/** Flags a workflow passes to a project CLI must be flags that CLI's --help lists. */
export function checkCliFlags(wf: Workflow, ctx: Context & { commands: Record<string, string>; help: (command: string) => string | undefined }): string[] {
  const problems: string[] = [];
  for (const { where, script } of runScripts(wf)) {
    for (const call of npmCallsIn(script)) {
      const help = ctx.help(ctx.commands[call.name]);
      if (help === undefined) continue; // not a project CLI (e.g. the pulumi wrappers)
      for (const flag of call.flags) {
        if (!new RegExp(`(^|[\\s,])${flag}(?![A-Za-z0-9-])`).test(help)) problems.push(`${wf.file}: ${where} passes ${flag} to npm run ${call.name}, which its --help does not list`);
      }
    }
  }
  return problems;
}

/**
 * A ` #` inside a plain (unquoted) YAML scalar starts a comment and silently cuts the command short; the
 * usual symptom is an unbalanced double quote in what remains.
 */
export const checkRunScriptsWhole: Check = (wf) =>
  runScripts(wf)
    .filter(({ script }) => script.split("\n").some((line) => !/^\s*#/.test(line) && ((line.replace(/\\"/g, "").match(/"/g) ?? []).length % 2 === 1) && !/\\$/.test(line)))
    .map(({ where, script }) => `${wf.file}: ${where} has an unbalanced double quote (was it cut short by a " #" YAML comment?): ${script.trim().split("\n")[0]}`);

const CHECKS: Record<string, Check> = {
  "npm scripts exist in package.json": checkNpmScriptsExist,
  "npm scripts are documented in README.md": checkNpmScriptsDocumented,
  "secrets and variables are listed in README.md": checkSecretsAndVarsListed,
  "every job has a timeout": checkJobTimeouts,
  "permissions are explicit, least privilege, and OIDC jobs request id-token: write": checkPermissions,
  "actions are pinned to a commit": checkActionsPinned,
  "run scripts do not splice in untrusted text": checkNoScriptInjection,
  "run scripts are whole (not cut by a YAML comment)": checkRunScriptsWhole,
};

function loadWorkflows(): { workflows: Workflow[]; parseErrors: string[] } {
  const workflows: Workflow[] = [];
  const parseErrors: string[] = [];
  const files = fs.existsSync(WORKFLOW_DIR) ? fs.readdirSync(WORKFLOW_DIR).filter((f) => /\.ya?ml$/.test(f)).sort() : [];
  for (const f of files) {
    const doc = parseDocument(fs.readFileSync(path.join(WORKFLOW_DIR, f), "utf8"), { uniqueKeys: true });
    if (doc.errors.length > 0) parseErrors.push(`${f}: ${doc.errors.map((e) => e.message).join("; ")}`);
    else if (!isObj(doc.toJS())) parseErrors.push(`${f}: not a mapping`);
    else workflows.push({ file: `.github/workflows/${f}`, doc: doc.toJS() as Obj });
  }
  return { workflows, parseErrors };
}

function packageScripts(): Record<string, string> {
  return (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts?: Record<string, string> }).scripts ?? {};
}

function realContext(): Context {
  const readmePath = path.join(ROOT, "README.md");
  return { scripts: new Set(Object.keys(packageScripts())), readme: fs.existsSync(readmePath) ? fs.readFileSync(readmePath, "utf8") : undefined };
}

describe("GitHub Actions workflows", () => {
  const { workflows, parseErrors } = loadWorkflows();
  const ctx = realContext();

  it("every workflow file parses as YAML", () => {
    assert.ok(workflows.length + parseErrors.length >= 4, `expected the PR preview, PR stack, deploy and scheduled-scoring workflows in ${WORKFLOW_DIR}`);
    assert.deepStrictEqual(parseErrors, []);
  });

  for (const [title, check] of Object.entries(CHECKS)) {
    it(title, () => {
      assert.deepStrictEqual(workflows.flatMap((wf) => check(wf, ctx)), []);
    });
  }

  it("flags passed to the project's CLIs are flags those CLIs accept", function () {
    this.timeout(120_000);
    const cache = new Map<string, string | undefined>();
    const help = (command: string) => {
      if (!cache.has(command)) cache.set(command, cliHelp(command));
      return cache.get(command);
    };
    assert.deepStrictEqual(workflows.flatMap((wf) => checkCliFlags(wf, { ...ctx, commands: packageScripts(), help })), []);
    assert.ok(cache.size > 0, "no workflow calls a project CLI through npm");
  });

  it("the workflows cover PR preview with the policy pack, main deploy, per-PR stacks and a schedule", () => {
    const on = workflows.map((w) => (isObj(w.doc.on) ? Object.keys(w.doc.on) : [])).flat();
    assert.ok(on.includes("pull_request") && on.includes("push") && on.includes("schedule"), `triggers found: ${on.join(", ")}`);
    const steps = workflows.flatMap((w) => jobsOf(w).flatMap(([, job]) => stepsOf(job)));
    const previews = steps.filter((s) => typeof s.uses === "string" && /^pulumi\/actions@/.test(s.uses) && isObj(s.with) && s.with.command === "preview");
    assert.ok(previews.length > 0, "a step runs pulumi/actions with command: preview");
    for (const p of previews) {
      const w = p.with as Obj;
      assert.strictEqual(w.policyPacks, "policy", "the PR preview applies the policy pack");
      assert.strictEqual(w["comment-on-pr"], true, "the PR preview posts its result on the pull request");
    }
    const all = runScripts({ file: "", doc: { jobs: Object.fromEntries(workflows.flatMap((w) => jobsOf(w)).map(([id, j], i) => [`${id}${i}`, j])) } })
      .map((r) => r.script)
      .join("\n");
    assert.match(all, /npm run deploy/);
    assert.match(all, /npm run score/);
    assert.match(all, /npm run destroy/);
    assert.match(all, /pulumi stack rm/);
    assert.match(all, /npm run jobs -- --cancel/, "a PR stack's running jobs are cancelled before destroy");
  });
});

describe("workflow checks catch a broken workflow", () => {
  const broken: Workflow = {
    file: "broken.yml",
    doc: {
      on: { push: {} },
      jobs: {
        deploy: {
          "runs-on": "ubuntu-24.04",
          env: { TOKEN: "${{ secrets.NOT_DOCUMENTED }}", WHERE: "${{ vars['ALSO_MISSING'] }}" },
          steps: [
            { uses: "actions/checkout@v7" },
            { uses: "azure/login@f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca", with: { "client-id": "${{ vars.AZURE_CLIENT_ID }}" } },
            { name: "go", run: "npm ci && npm run no-such-script -- --yes && npm test" },
            { name: "echo", run: 'echo "${{ inputs.input }}"' },
          ],
        },
      },
    },
  };
  const ctx: Context = {
    scripts: new Set(["test", "deploy"]),
    readme: "# X\n\nRun `npm test`.\n\n## Secrets and variables\n\n| `AZURE_CLIENT_ID` | variable |\n\n## Other\n\nNOT_DOCUMENTED appears here, outside the section.\n",
  };

  it("reports an npm script missing from package.json, naming it", () => {
    const problems = checkNpmScriptsExist(broken, ctx);
    assert.strictEqual(problems.length, 1, problems.join("\n"));
    assert.match(problems[0], /job deploy step go runs npm script "no-such-script", which package.json does not define/);
  });

  it("reports an npm script the README does not document", () => {
    const problems = checkNpmScriptsDocumented(broken, ctx);
    assert.deepStrictEqual(problems.map((p) => /"([^"]+)"/.exec(p)![1]), ["no-such-script"]);
  });

  it("reports secrets and variables missing from the README's section (mentions elsewhere do not count)", () => {
    const problems = checkSecretsAndVarsListed(broken, ctx);
    assert.deepStrictEqual(problems.map((p) => / reads (\S+),/.exec(p)![1]).sort(), ["secrets.NOT_DOCUMENTED", "vars.ALSO_MISSING"]);
    const noSection = checkSecretsAndVarsListed(broken, { ...ctx, readme: "# X\n" });
    assert.ok(noSection.every((p) => /no "Secrets and variables" section/.test(p)) && noSection.length === 3, noSection.join("\n"));
  });

  it("reports a job without a timeout", () => {
    assert.deepStrictEqual(checkJobTimeouts(broken, ctx), ["broken.yml: job deploy has no timeout-minutes (the default is 6 hours of billed runner time)"]);
  });

  it("reports missing permissions and an OIDC login without id-token: write", () => {
    const problems = checkPermissions(broken, ctx);
    assert.ok(problems.some((p) => /no top-level permissions/.test(p)), problems.join("\n"));
    assert.ok(problems.some((p) => /job deploy signs in to Azure with OpenID Connect but does not request permissions id-token: write/.test(p)), problems.join("\n"));
    const fixed: Workflow = { ...broken, doc: { ...broken.doc, permissions: { contents: "read" } } };
    const jobs = fixed.doc.jobs as Obj;
    const withToken: Workflow = { ...fixed, doc: { ...fixed.doc, jobs: { deploy: { ...(jobs.deploy as Obj), permissions: { contents: "read", "id-token": "write" } } } } };
    assert.deepStrictEqual(checkPermissions(withToken, ctx), []);
    assert.match(checkPermissions({ ...broken, doc: { ...broken.doc, permissions: "write-all" } }, ctx).join("\n"), /write-all is not least privilege/);
    const workflowEnvOidc: Workflow = { file: "w.yml", doc: { permissions: { contents: "read" }, env: { ARM_USE_OIDC: "true" }, jobs: { up: { steps: [{ run: "npm run deploy" }] } } } };
    assert.match(checkPermissions(workflowEnvOidc, ctx).join("\n"), /job up signs in to Azure with OpenID Connect but does not request permissions id-token: write/);
    const pulumiOidc: Workflow = { file: "p.yml", doc: { permissions: { contents: "read" }, jobs: { p: { steps: [{ uses: "pulumi/auth-actions@141415910c3beb54e03b48e9057c204c97b956f2" }] } } } };
    assert.strictEqual(checkPermissions(pulumiOidc, ctx).length, 1);
  });

  it("reports an action pinned to a tag instead of a commit", () => {
    assert.deepStrictEqual(checkActionsPinned(broken, ctx), ["broken.yml: job deploy uses actions/checkout@v7, not pinned to a full commit SHA (add the version as a comment)"]);
  });

  it("reports workflow inputs spliced into a run script", () => {
    const problems = checkNoScriptInjection(broken, ctx);
    assert.strictEqual(problems.length, 1);
    assert.match(problems[0], /step echo splices \$\{\{ inputs\./);
  });

  it("reports a run script cut short by a YAML comment", () => {
    const cut: Workflow = { file: "cut.yml", doc: { jobs: { j: { steps: [{ name: "up", run: 'npm run deploy -- --message "PR' }] } } } };
    assert.match(checkRunScriptsWhole(cut, ctx).join("\n"), /cut\.yml: job j step up has an unbalanced double quote/);
    assert.deepStrictEqual(checkRunScriptsWhole(broken, ctx), []);
  });

  it("reports a flag the called CLI does not accept", () => {
    const wf: Workflow = { file: "f.yml", doc: { jobs: { j: { steps: [{ name: "cancel", run: "npm run jobs -- cancel --all --timeout 5m" }] } } } };
    const help = (command: string) => (command === "ts-node jobs.ts" ? "  --cancel  Cancel...\n  --timeout <duration>\n" : undefined);
    assert.deepStrictEqual(checkCliFlags(wf, { ...ctx, commands: { jobs: "ts-node jobs.ts" }, help }), ["f.yml: job j step cancel passes --all to npm run jobs, which its --help does not list"]);
  });

  it("reads npm script calls and context reads the way a shell and GitHub do", () => {
    assert.deepStrictEqual(npmCallsIn('npm run score -- --target azure --input "$X" \\\n  --out scores 2> >(tee e >&2)\nnpm run deploy'), [
      { name: "score", flags: ["--target", "--input", "--out"] },
      { name: "deploy", flags: [] },
    ]);
    assert.deepStrictEqual(npmScriptsIn("npm ci\nnpm run score -- --x && npm start; npm t\nnpm run-script run-pipeline"), ["score", "run-pipeline", "start", "test"]);
    assert.deepStrictEqual(contextReadsIn("${{ secrets.A }} ${{ vars.B || 'x' }} ${{ secrets['C'] }} github.token"), [
      { kind: "secrets", name: "A" },
      { kind: "vars", name: "B" },
      { kind: "secrets", name: "C" },
    ]);
  });
});
