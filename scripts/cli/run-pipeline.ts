/**
 * run-pipeline: submits the registered pipeline component as a standalone pipeline job on the cluster
 * (experiment uci-heart-score-pipeline), the way a team tests the pipeline before pointing the endpoint at it;
 * then waits and pulls like run.
 */
import { parseCommandLine, runCli } from "../lib/cli";
import { COMMON_DETAILS, defineCommand, PULL_FLAGS, scoreModes, targetFlags, WAIT_FLAGS } from "../lib/targets/commands";
import { PIPELINE_EXPERIMENT } from "../lib/targets/azure";
import { runFlow } from "../lib/targets/runFlow";

const NAME = "run-pipeline";
const { modes, defaultMode } = scoreModes();
const spec = defineCommand({
  name: NAME,
  summary: "Run the registered pipeline component as a standalone job, wait for it, pull the scores.",
  usage: "run-pipeline --input <folder|uri> [--out <folder>] [--timeout 2h] [--score-mode append|prediction_only]",
  flags: {
    input: { type: "string", short: "i", valueName: "folder|uri", description: "Local folder of CSV files, or an azureml:// / https:// folder URI." },
    "score-mode": { type: "string", valueName: "mode", description: `${modes.join(" or ")}.`, default: defaultMode },
    experiment: { type: "string", valueName: "name", description: "Experiment name of the job.", default: PIPELINE_EXPERIMENT },
    "invocation-id": { type: "string", valueName: "id", description: "Reuse an earlier submission's id (the job is named heart-<id>).", env: "HEART_INVOCATION_ID" },
    out: { type: "string", short: "o", valueName: "folder", description: "Folder to write the scores into.", default: "scores/<job name>" },
    ...WAIT_FLAGS,
    "keep-on-interrupt": { type: "boolean", description: "Local target: leave the run going on Ctrl-C." },
    ...PULL_FLAGS,
    json: { type: "boolean", description: "Print JSON instead of the folder." },
    ...targetFlags(["subscriptionId", "resourceGroupName", "workspaceName", "pipelineComponentId", "computeName", "datastoreName"]),
  },
  details: `The job runs on the compute cluster (settings default_compute and default_datastore) with inputs input_data
and score_mode; its scores go to azureml://datastores/<datastore>/paths/scores/<id>/.
${COMMON_DETAILS}`,
});

runCli(NAME, ({ signal }) => runFlow("pipeline", spec, parseCommandLine(spec).values, signal, (l) => void process.stderr.write(`${NAME}: ${l}\n`)));
