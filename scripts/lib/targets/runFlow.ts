/** invoke → wait → pull in one step (run and run-pipeline), for schedules and the README's main command. */
import * as path from "path";
import { CommandSpec, FlagValues, stringFlag } from "../cli";
import { azureInvoke, azureSubmitPipeline, openAzure, Started } from "./azure";
import { checkInvokeInput, checkOutFolder, JobRef, OUT_DEFAULT, pullStep, runsDirOf, targetOf, timeoutMsOf, waitStep } from "./commands";
import { localInvoke } from "./local";

export async function runFlow(
  kind: "endpoint" | "pipeline",
  spec: CommandSpec,
  values: FlagValues,
  signal: AbortSignal,
  log: (l: string) => void,
): Promise<number> {
  const target = targetOf(values);
  const input = stringFlag(spec, values, "input");
  const scoreMode = stringFlag(spec, values, "score-mode")!;
  const timeoutMs = timeoutMsOf(spec, values);
  const invocationId = stringFlag(spec, values, "invocation-id");
  checkInvokeInput(input, scoreMode, log, target === "azure", invocationId);
  const outRaw = stringFlag(spec, values, "out")!;
  // The default folder is named for a job that does not exist yet, so only a given --out can be in the way.
  if (outRaw !== OUT_DEFAULT) checkOutFolder(outRaw, { force: values.force === true, requireEmpty: true });
  let ref: JobRef;
  let started: Started | undefined;
  if (target === "local") {
    const runsDir = runsDirOf(values);
    const { runId } = await localInvoke({ input: input!, scoreMode, runsDir, signal });
    log(`started local run ${runId}`);
    ref = { target, name: runId, runsDir };
  } else {
    const s =
      kind === "endpoint"
        ? await openAzure(values, ["endpointName"], ["datastoreName"], log)
        : await openAzure(values, ["pipelineComponentId", "computeName"], ["datastoreName"], log);
    const common = { input: input!, scoreMode, experiment: stringFlag(spec, values, "experiment"), invocationId, signal };
    started = kind === "endpoint" ? await azureInvoke(s, { ...common, deployment: stringFlag(spec, values, "deployment") }) : await azureSubmitPipeline(s, common);
    log(`${started.reused ? "found the job already started" : "started job"} ${started.jobName} (invocation ${started.invocationId})`);
    ref = { target, name: started.jobName, azure: s };
  }
  // A local run belongs to this terminal: Ctrl-C stops it unless asked otherwise.
  const cancelOnInterrupt = values["cancel-on-interrupt"] === true || (target === "local" && values["keep-on-interrupt"] !== true);
  await waitStep(ref, { timeoutMs, cancelOnInterrupt, signal, log });
  const out = outRaw === OUT_DEFAULT ? path.join("scores", ref.name) : outRaw;
  const pulled = await pullStep(ref, out, { force: values.force === true, scoresUri: started?.scoresUri, signal, log });
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ target, jobName: ref.name, invocationId: started?.invocationId, scores: pulled.outDir, files: pulled.files, downloaded: pulled.downloaded, skipped: pulled.skipped })}\n`);
  } else {
    log(`scores of ${ref.name} are in ${pulled.outDir}`);
    process.stdout.write(`${pulled.outDir}\n`);
  }
  return 0;
}
