/**
 * run-pipeline: submits the registered pipeline component as a standalone pipeline job on the cluster
 * (experiment uci-heart-score-pipeline), the way a team tests the pipeline before pointing the endpoint at it;
 * then waits and pulls like run.
 */
import { parseCommandLine, runCli } from "../lib/cli";
import { runFlow } from "../lib/targets/runFlow";
import { COMMON_DETAILS, defineCommand, invokeFlags, RUN_FLAGS, runOptionsOf, targetFlags } from "./flags";

const NAME = "run-pipeline";
const spec = defineCommand({
  name: NAME,
  summary: "Run the registered pipeline component as a standalone job, wait for it, pull the scores.",
  usage: "run-pipeline --input <folder|uri> [--out <folder>] [--timeout 2h] [--score-mode append|prediction_only]",
  flags: {
    ...invokeFlags("pipeline"),
    ...RUN_FLAGS,
    json: { type: "boolean", description: "Print JSON (job name, scores folder, files) instead of the folder." },
    ...targetFlags(["subscriptionId", "resourceGroupName", "workspaceName", "pipelineComponentId", "computeName", "datastoreName"], { workers: true }),
  },
  details: `The job runs on the compute cluster (settings default_compute and default_datastore) with inputs input_data
and score_mode; its scores go to azureml://datastores/<datastore>/paths/scores/<id>/.
${COMMON_DETAILS}`,
});

runCli(NAME, async ({ signal }) => {
  const { values } = parseCommandLine(spec);
  return runFlow(runOptionsOf("pipeline", spec, values), { json: values.json === true, signal, log: (l) => void process.stderr.write(`${NAME}: ${l}\n`) });
});
