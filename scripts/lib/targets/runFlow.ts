/** invoke → wait → pull in one step (run and run-pipeline), for schedules and the README's main command. */
import { checkInput, checkOutFolder, JobRef, openAzure, outFolderFor, pullStep, RunOptions, waitStep } from "./commands";
import type { Started } from "./azure";

export interface RunFlowContext {
  /** Print JSON (job, scores folder, files) instead of the folder. */
  readonly json: boolean;
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
}

export async function runFlow(o: RunOptions, { json, signal, log }: RunFlowContext): Promise<number> {
  const t = o.target;
  await checkInput(o.invoke, t.target, log, signal);
  // The default folder is named for a job that does not exist yet, so only a given --out can be in the way.
  if (o.out !== undefined) checkOutFolder(o.out, { force: o.force, requireEmpty: true });
  const input = o.invoke.input!;
  let ref: JobRef;
  let started: Started | undefined;
  if (t.target === "local") {
    const { localInvoke } = await import("./local");
    const { runId } = await localInvoke({ input, scoreMode: o.invoke.scoreMode, runsDir: t.runsDir, workers: t.workers, signal });
    log(`started local run ${runId}`);
    ref = { target: "local", name: runId, runsDir: t.runsDir };
  } else {
    const s =
      o.kind === "endpoint"
        ? await openAzure(t.workspace, ["endpointName"], ["datastoreName"], log)
        : await openAzure(t.workspace, ["pipelineComponentId", "computeName"], ["datastoreName"], log);
    const azure = await import("./azure");
    const common = { input, scoreMode: o.invoke.scoreMode, experiment: o.invoke.experiment, invocationId: o.invoke.invocationId, signal };
    started = o.kind === "endpoint" ? await azure.azureInvoke(s, { ...common, deployment: o.invoke.deployment }) : await azure.azureSubmitPipeline(s, common);
    log(`${started.reused ? "found the job already started" : "started job"} ${started.jobName} (invocation ${started.invocationId})`);
    ref = { target: "azure", name: started.jobName, azure: s };
  }
  await waitStep(ref, { ...o.wait, signal, log });
  const pulled = await pullStep(ref, outFolderFor(o.out, ref.name), { force: o.force, scoresUri: started?.scoresUri, signal, log });
  if (json) {
    process.stdout.write(`${JSON.stringify({ target: t.target, jobName: ref.name, invocationId: started?.invocationId, scores: pulled.outDir, files: pulled.files, downloaded: pulled.downloaded, skipped: pulled.skipped })}\n`);
  } else {
    log(`scores of ${ref.name} are in ${pulled.outDir}`);
    process.stdout.write(`${pulled.outDir}\n`);
  }
  return 0;
}
