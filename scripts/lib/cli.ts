/**
 * The small frame every command-line tool shares: flags (node's util.parseArgs) with generated --help,
 * environment-variable fallbacks, one error path that prints a clear message (never a stack or a token) and
 * exits with the documented code, and an AbortSignal that Ctrl-C/SIGTERM trips (a second Ctrl-C exits at once).
 */
import { parseArgs } from "util";
import { CliError, ExitCode, EXIT_CODES_HELP } from "./exitCodes";

export interface FlagSpec {
  readonly type: "string" | "boolean";
  readonly description: string;
  readonly short?: string;
  /** Shown in help as --flag <valueName>. */
  readonly valueName?: string;
  /** Environment variable read when the flag is absent. */
  readonly env?: string;
  readonly default?: string | boolean;
  readonly multiple?: boolean;
}

export interface CommandSpec {
  /** e.g. "invoke" — used in messages as "<name>: error: …". */
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly flags: Record<string, FlagSpec>;
  /** Extra help text (examples, where values come from). */
  readonly details?: string;
  /** Whether positional arguments are accepted. */
  readonly positionals?: boolean;
}

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export interface ParsedCommandLine {
  readonly values: FlagValues;
  readonly positionals: string[];
  /** Which flags were given on the command line or through their env variable (not defaults). */
  readonly given: ReadonlySet<string>;
}

export function formatHelp(spec: CommandSpec): string {
  const rows = Object.entries(spec.flags).map(([name, f]) => {
    const left = `${f.short ? `-${f.short}, ` : "    "}--${name}${f.type === "string" ? ` <${f.valueName ?? "value"}>` : ""}`;
    const extras = [
      f.default !== undefined && f.default !== false ? `default: ${f.default}` : undefined,
      f.env ? `env: ${f.env}` : undefined,
    ].filter(Boolean);
    return { left, right: `${f.description}${extras.length ? ` (${extras.join("; ")})` : ""}` };
  });
  rows.push({ left: "-h, --help", right: "Show this help and exit." });
  const width = Math.max(...rows.map((r) => r.left.length)) + 2;
  const lines = [
    `${spec.name}: ${spec.summary}`,
    "",
    `Usage: ${spec.usage}`,
    "",
    "Options:",
    ...rows.map((r) => `  ${r.left.padEnd(width)}${r.right}`),
  ];
  if (spec.details) lines.push("", spec.details.trimEnd());
  lines.push("", EXIT_CODES_HELP);
  return lines.join("\n") + "\n";
}

/** Parses argv; prints help and exits 0 on --help; throws CliError(Usage) for unknown or malformed flags. */
export function parseCommandLine(
  spec: CommandSpec,
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): ParsedCommandLine {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(formatHelp(spec));
    process.exit(ExitCode.Success);
  }
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  // util.parseArgs rejects keys present with the value undefined, so only set what the flag defines.
  for (const [name, f] of Object.entries(spec.flags)) {
    options[name] = { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) };
  }
  let parsed: { values: FlagValues; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: spec.positionals ?? false, strict: true }) as typeof parsed;
  } catch (e) {
    throw new CliError(ExitCode.Usage, (e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ""), `See '${spec.name} --help'.`);
  }
  const values: FlagValues = { ...parsed.values };
  const given = new Set(Object.keys(parsed.values));
  for (const [name, f] of Object.entries(spec.flags)) {
    if (values[name] === undefined && f.env && env[f.env] !== undefined && env[f.env] !== "") {
      const raw = env[f.env] as string;
      if (f.type === "boolean") {
        if (!/^(1|0|true|false|yes|no)$/i.test(raw)) {
          throw new CliError(ExitCode.Usage, `${f.env} must be true or false (got '${raw}')`);
        }
        values[name] = /^(1|true|yes)$/i.test(raw);
      } else {
        values[name] = f.multiple ? raw.split(",") : raw;
      }
      given.add(name);
    }
    if (values[name] === undefined && f.default !== undefined) values[name] = f.default;
  }
  return { values, positionals: parsed.positionals, given };
}

/** Reads a string flag, requiring it when `required` (message names the flag and its env variable). */
export function stringFlag(spec: CommandSpec, values: FlagValues, name: string, required = false): string | undefined {
  const v = values[name];
  if (v === undefined || v === "") {
    if (!required) return undefined;
    const f = spec.flags[name];
    throw new CliError(ExitCode.Usage, `--${name} is required${f?.env ? ` (or set ${f.env})` : ""}`, `See '${spec.name} --help'.`);
  }
  if (typeof v !== "string") throw new CliError(ExitCode.Usage, `--${name} takes one value`);
  return v;
}

/** Parses a duration such as 90, 90s, 15m, 2h, 1h30m into seconds. */
export function parseDurationSeconds(flag: string, raw: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$/.exec(raw.trim());
  if (!raw.trim() || !m || (m[1] === undefined && m[2] === undefined && m[3] === undefined)) {
    throw new CliError(ExitCode.Usage, `--${flag} must be a duration like 90, 90s, 15m, 2h or 1h30m (got '${raw}')`);
  }
  const seconds = Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  if (seconds <= 0) throw new CliError(ExitCode.Usage, `--${flag} must be greater than zero (got '${raw}')`);
  return seconds;
}

export interface CliContext {
  /** Tripped by the first Ctrl-C or SIGTERM; a second one exits immediately with 130. */
  readonly signal: AbortSignal;
}

/**
 * Runs a command's main function and exits with its code. CliError → its message and code; anything else →
 * "internal error" and 70. Never prints a stack unless HEART_DEBUG=1.
 */
export function runCli(name: string, main: (ctx: CliContext) => Promise<number | void>): void {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts > 1) process.exit(ExitCode.Interrupted);
    process.stderr.write(`\n${name}: ${sig} received, stopping (again to exit at once)\n`);
    controller.abort(new CliError(ExitCode.Interrupted, `interrupted by ${sig}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // Through a promise even when main throws before its first await (e.g. a flag error from a non-async main),
  // so every error takes the one path below.
  Promise.resolve()
    .then(() => main({ signal: controller.signal }))
    .then((code) => process.exit(code ?? ExitCode.Success))
    .catch((e: unknown) => {
      if (e instanceof CliError) {
        process.stderr.write(`${name}: error: ${e.message}\n`);
        if (e.hint) process.stderr.write(`${name}: ${e.hint}\n`);
        process.exit(e.exitCode);
      }
      process.stderr.write(`${name}: internal error: ${(e as Error)?.message ?? String(e)}\n`);
      if (process.env.HEART_DEBUG === "1" && (e as Error)?.stack) process.stderr.write(`${(e as Error).stack}\n`);
      process.exit(ExitCode.Internal);
    });
}
