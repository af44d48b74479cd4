/**
 * Exit codes every script uses, so schedules and CI can branch on them. Documented in each --help and the
 * README; keep the three in the same words.
 */
export const ExitCode = {
  /** The work finished: job Completed, files pulled. */
  Success: 0,
  /** The job ended Failed, Canceled, NotResponding or Paused; or a local step failed. */
  JobFailed: 1,
  /** Bad flags, configuration or input (folder, CSV files, score mode, unknown deployment). Nothing was started. */
  Usage: 2,
  /** --timeout passed before the job was final (the job keeps running unless canceled). */
  Timeout: 3,
  /** Authentication or permission refused (401/403, no credential available). */
  Auth: 4,
  /** The service kept failing (429/5xx/network) after the retries. */
  Unavailable: 5,
  /** An unexpected internal error (a bug): the message says what happened. */
  Internal: 70,
  /** Stopped by Ctrl-C / SIGTERM before the work finished. */
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    the job failed or was canceled (the failing step and the service's message are printed)
  2    bad usage, configuration or input; nothing was started
  3    --timeout reached before the job was final
  4    authentication or permission refused
  5    service unavailable after retries
  70   internal error (a bug; please report it with the message)
  130  interrupted (Ctrl-C)`;

/** An error that knows its exit code; the CLI wrapper prints its message (never a stack) and exits with it. */
export class CliError extends Error {
  constructor(readonly exitCode: ExitCode, message: string, readonly hint?: string) {
    super(message);
    this.name = "CliError";
  }
}
