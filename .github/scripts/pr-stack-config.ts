/**
 * Writes a per-PR stack's config, Pulumi.pr-<N>.yaml, from the shared stack's committed Pulumi.<base>.yaml plus
 * the PR's own keys, on every run of .github/workflows/pr-stack.yml: each run is a fresh runner, and a config
 * file written once (pulumi stack init --copy-config-from) exists only on the runner that wrote it.
 * The result depends only on the base file, the project name and the PR number: every runner writes the same bytes.
 *
 *   node scripts/cli/launch.js .github/scripts/pr-stack-config.ts --base dev --pr 42 [--dir <project>]
 *   (or node -r ts-node/register/transpile-only .github/scripts/pr-stack-config.ts …)
 *
 * PR keys: computeName pr-<N> (its own cluster; the shared stack owns its own), tags.environment pr-<N>,
 * minNodes 0. A `secure:` value in the base is refused: it is encrypted for the base stack only, and this stack
 * reads no secret config. Exit 0 written, 2 bad arguments or base config (nothing written), 1 unexpected.
 */
import * as fs from "fs";
import * as path from "path";
import { isMap, parseDocument, stringify } from "yaml";

export class PrConfigError extends Error {
  override readonly name = "PrConfigError";
}

/** The stack-name part Pulumi uses for the config file (`org/dev` → `dev`). */
export function stackFileName(stack: string): string {
  const name = stack.split("/").pop() ?? "";
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new PrConfigError(`'${stack}' is not a stack name`);
  return `Pulumi.${name}.yaml`;
}

function secureKeys(value: unknown, at: string): string[] {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    if (Object.keys(o).length === 1 && "secure" in o) return [at];
    return Object.entries(o).flatMap(([k, v]) => secureKeys(v, `${at}.${k}`));
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => secureKeys(v, `${at}[${i}]`));
  return [];
}

/** Pure: the PR stack's config file text from the base stack's file text. */
export function prStackConfig(baseYaml: string, project: string, pr: number, baseFile = "the base config"): string {
  if (!Number.isInteger(pr) || pr <= 0 || pr > 9_999_999) throw new PrConfigError(`--pr must be a pull request number (got ${pr})`);
  const doc = parseDocument(baseYaml, { uniqueKeys: true });
  if (doc.errors.length > 0) throw new PrConfigError(`${baseFile}: ${doc.errors[0].message}`);
  const base = doc.toJS() as { config?: Record<string, unknown> } | null;
  const config = base?.config;
  if (!config || typeof config !== "object" || !isMap(doc.get("config", true))) throw new PrConfigError(`${baseFile} has no config: mapping`);
  const secure = Object.entries(config).flatMap(([k, v]) => secureKeys(v, k));
  if (secure.length > 0) {
    throw new PrConfigError(`${baseFile}: ${secure.join(", ")} ${secure.length > 1 ? "are secrets" : "is a secret"}, encrypted for that stack only; a PR stack cannot reuse it (move it to a GitHub environment secret or Pulumi ESC)`);
  }
  const key = (k: string) => `${project}:${k}`;
  const tags = config[key("tags")];
  const out: Record<string, unknown> = { ...config };
  out[key("computeName")] = `pr-${pr}`;
  out[key("minNodes")] = 0;
  out[key("tags")] = { ...(tags && typeof tags === "object" && !Array.isArray(tags) ? (tags as Record<string, unknown>) : {}), environment: `pr-${pr}` };
  return `# Written by .github/scripts/pr-stack-config.ts from ${path.basename(baseFile)} on every run of the PR-stack workflow; not committed.\n${stringify({ config: out }, { lineWidth: 0 })}`;
}

function projectName(dir: string): string {
  const file = path.join(dir, "Pulumi.yaml");
  if (!fs.existsSync(file)) throw new PrConfigError(`${file} not found: run from the project directory (or pass --dir)`);
  const name = (parseDocument(fs.readFileSync(file, "utf8")).toJS() as { name?: unknown } | null)?.name;
  if (typeof name !== "string" || !name) throw new PrConfigError(`${file} has no project name`);
  return name;
}

/** Writes the file atomically; returns its path. */
export function writePrStackConfig(dir: string, baseStack: string, pr: number): string {
  const baseFile = path.join(dir, stackFileName(baseStack));
  if (!fs.existsSync(baseFile)) throw new PrConfigError(`${baseFile} not found: the shared stack's config must be committed`);
  const text = prStackConfig(fs.readFileSync(baseFile, "utf8"), projectName(dir), pr, baseFile);
  const target = path.join(dir, `Pulumi.pr-${pr}.yaml`);
  const tmp = `${target}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, target);
  return target;
}

export function main(argv: string[]): number {
  const arg = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  try {
    const base = arg("base");
    const pr = arg("pr");
    if (!base || !pr || !/^\d+$/.test(pr)) throw new PrConfigError("usage: pr-stack-config.ts --base <shared stack, e.g. dev or org/dev> --pr <pull request number> [--dir <project dir>]");
    const file = writePrStackConfig(path.resolve(arg("dir") ?? "."), base, Number(pr));
    process.stdout.write(`${file}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`pr-stack-config: ${(e as Error).message}\n`);
    return e instanceof PrConfigError ? 2 : 1;
  }
}

// Run directly, or through scripts/cli/launch.js (which sets argv[1] to this file and requires it).
if (require.main === module || process.argv[1] === __filename) process.exitCode = main(process.argv.slice(2));
