/**
 * invoke: starts a scoring job on the batch endpoint (or, with --target local, a local run) and prints its
 * name. A local folder is checked (every header and every cell) before anything is uploaded, then uploaded to
 * the workspace's default datastore under a content-addressed path (skipped when already there). The Azure
 * SDKs are loaded only once the input and the configuration have passed.
 */
import { parseCommandLine, runCli } from "../lib/cli";
import { checkInput, openAzure } from "../lib/targets/commands";
import { COMMON_DETAILS, defineCommand, invokeFlags, invokeOptionsOf, targetFlags, targetOptionsOf } from "./flags";

const NAME = "invoke";
const spec = defineCommand({
  name: NAME,
  summary: "Start a scoring job on a folder of CSV files and print the job name.",
  usage: "invoke --input <folder|uri> [--score-mode append|prediction_only] [--deployment <name>] [--json]",
  flags: {
    ...invokeFlags("endpoint"),
    json: { type: "boolean", description: "Print JSON (job name, invocation id, scores URI) instead of the job name." },
    ...targetFlags(["subscriptionId", "resourceGroupName", "workspaceName", "endpointName", "datastoreName"], { workers: true }),
  },
  details: `A local folder is checked first, every header and every cell as the pipeline reads them (exit 2 naming the file,
column, data row and value); nothing is uploaded or started before it passes.
The job's scores go to azureml://datastores/<datastore>/paths/scores/<invocation id>/, so pull finds them directly.
${COMMON_DETAILS}

Examples:
  invoke --input data/unlabeled
  invoke --input azureml://datastores/workspaceblobstore/paths/heart/ --deployment staging --json
  invoke --target local --input data/unlabeled`,
});

runCli(NAME, async ({ signal }) => {
  const log = (l: string) => void process.stderr.write(`${NAME}: ${l}\n`);
  const { values } = parseCommandLine(spec);
  const target = targetOptionsOf(spec, values);
  const invoke = invokeOptionsOf(spec, values);
  const json = values.json === true;
  await checkInput(invoke, target.target, log, signal);
  if (target.target === "local") {
    const { localInvoke } = await import("../lib/targets/local");
    const { runId } = await localInvoke({ input: invoke.input!, scoreMode: invoke.scoreMode, runsDir: target.runsDir, workers: target.workers, signal });
    process.stdout.write(json ? `${JSON.stringify({ jobName: runId, target: target.target })}\n` : `${runId}\n`);
    return 0;
  }
  const s = await openAzure(target.workspace, ["endpointName"], ["datastoreName"], log);
  const { azureInvoke } = await import("../lib/targets/azure");
  const started = await azureInvoke(s, { ...invoke, input: invoke.input!, signal });
  log(`${started.reused ? "found the job already started for" : "started job for"} invocation ${started.invocationId}: ${started.jobName}`);
  process.stdout.write(json ? `${JSON.stringify({ ...started, target: target.target })}\n` : `${started.jobName}\n`);
  return 0;
});
