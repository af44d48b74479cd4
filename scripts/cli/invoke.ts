/**
 * invoke: starts a scoring job on the batch endpoint (or, with --target local, a local run) and prints its
 * name. A local folder is checked (every CSV header) before anything is uploaded, then uploaded to the
 * workspace's default datastore under a content-addressed path (skipped when already there).
 */
import { parseCommandLine, runCli, stringFlag } from "../lib/cli";
import { azureInvoke, openAzure } from "../lib/targets/azure";
import { checkInvokeInput, COMMON_DETAILS, defineCommand, invokeFlags, runsDirOf, targetFlags, targetOf } from "../lib/targets/commands";
import { localInvoke } from "../lib/targets/local";

const NAME = "invoke";
const spec = defineCommand({
  name: NAME,
  summary: "Start a scoring job on a folder of CSV files and print the job name.",
  usage: "invoke --input <folder|uri> [--score-mode append|prediction_only] [--deployment <name>] [--json]",
  flags: {
    ...invokeFlags("endpoint"),
    json: { type: "boolean", description: "Print JSON (job name, invocation id, scores URI) instead of the job name." },
    ...targetFlags(["subscriptionId", "resourceGroupName", "workspaceName", "endpointName", "datastoreName"]),
  },
  details: `The job's scores go to azureml://datastores/<datastore>/paths/scores/<invocation id>/, so pull finds them directly.
${COMMON_DETAILS}

Examples:
  invoke --input data/unlabeled
  invoke --input azureml://datastores/workspaceblobstore/paths/heart/ --deployment staging --json
  invoke --target local --input data/unlabeled`,
});

runCli(NAME, async ({ signal }) => {
  const log = (l: string) => void process.stderr.write(`${NAME}: ${l}\n`);
  const { values } = parseCommandLine(spec);
  const target = targetOf(values);
  const input = stringFlag(spec, values, "input");
  const scoreMode = stringFlag(spec, values, "score-mode")!;
  const invocationId = stringFlag(spec, values, "invocation-id");
  checkInvokeInput(input, scoreMode, log, target === "azure", invocationId);
  if (target === "local") {
    const { runId } = await localInvoke({ input: input!, scoreMode, runsDir: runsDirOf(values), signal });
    process.stdout.write(values.json ? `${JSON.stringify({ jobName: runId, target })}\n` : `${runId}\n`);
    return 0;
  }
  const s = await openAzure(values, ["endpointName"], ["datastoreName"], log);
  const started = await azureInvoke(s, {
    input: input!,
    scoreMode,
    deployment: stringFlag(spec, values, "deployment"),
    experiment: stringFlag(spec, values, "experiment"),
    invocationId,
    signal,
  });
  log(`${started.reused ? "found the job already started for" : "started job for"} invocation ${started.invocationId}: ${started.jobName}`);
  process.stdout.write(values.json ? `${JSON.stringify({ ...started, target })}\n` : `${started.jobName}\n`);
  return 0;
});
