/**
 * The detached process behind `invoke --target local`: runs the pipeline once and exits. Everything it has to
 * say after start-up goes into run.json (its stderr pipe is closed once the run has started); SIGTERM/SIGINT
 * cancel the run (the step's process group is killed and the run ends Canceled).
 */
import { LocalRunInputError, runLocalPipeline } from "../local/runner";
import type { LocalWorkerSpec } from "./local";

const controller = new AbortController();
process.on("SIGTERM", () => controller.abort());
process.on("SIGINT", () => controller.abort());
process.stderr.on("error", () => undefined);

async function main(): Promise<number> {
  const spec = JSON.parse(process.argv[2] ?? "{}") as LocalWorkerSpec;
  // `workers` is the runner's option (default: the CPUs); left out, the runner decides.
  const options: Parameters<typeof runLocalPipeline>[0] & { workers?: number } = {
    inputs: { input_data: spec.input, score_mode: spec.scoreMode },
    runsDir: spec.runsDir,
    runId: spec.runId,
    signal: controller.signal,
    ...(spec.workers !== undefined ? { workers: spec.workers } : {}),
  };
  try {
    const r = await runLocalPipeline(options);
    return r.status === "Completed" ? 0 : 1;
  } catch (e) {
    if (e instanceof LocalRunInputError) {
      process.stderr.write(e.problems.join("\n  ") + "\n");
      return 2;
    }
    process.stderr.write(`${(e as Error).message}\n`);
    return 70;
  }
}

main().then((code) => process.exit(code));
