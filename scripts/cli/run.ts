/** run: invoke → wait → pull in one step, for schedules; with --target local, the README's main command. */
import { parseCommandLine, runCli } from "../lib/cli";
import { COMMON_DETAILS, defineCommand, PULL_FLAGS, scoreModes, targetFlags, WAIT_FLAGS } from "../lib/targets/commands";
import { runFlow } from "../lib/targets/runFlow";

const NAME = "run";
const { modes, defaultMode } = scoreModes();
const spec = defineCommand({
  name: NAME,
  summary: "Score a folder of CSV files: invoke the endpoint, wait for the job, pull the scores.",
  usage: "run --input <folder|uri> [--out <folder>] [--timeout 2h] [--score-mode append|prediction_only] [--deployment <name>]",
  flags: {
    input: { type: "string", short: "i", valueName: "folder|uri", description: "Local folder of CSV files, or an azureml:// / https:// folder URI." },
    "score-mode": { type: "string", valueName: "mode", description: `${modes.join(" or ")}: append keeps the input columns and adds prediction; prediction_only writes prediction alone.`, default: defaultMode },
    deployment: { type: "string", valueName: "name", description: "Deployment to run (else the endpoint's default).", env: "HEART_DEPLOYMENT" },
    experiment: { type: "string", valueName: "name", description: "Experiment name of the job." },
    "invocation-id": { type: "string", valueName: "id", description: "Reuse an earlier invocation's id: its job is picked up instead of starting a second one.", env: "HEART_INVOCATION_ID" },
    out: { type: "string", short: "o", valueName: "folder", description: "Folder to write the scores into.", default: "scores/<job name>" },
    ...WAIT_FLAGS,
    "keep-on-interrupt": { type: "boolean", description: "Local target: leave the run going on Ctrl-C (by default it is canceled)." },
    ...PULL_FLAGS,
    json: { type: "boolean", description: "Print JSON (job name, scores folder, files) instead of the folder." },
    ...targetFlags(["subscriptionId", "resourceGroupName", "workspaceName", "endpointName", "datastoreName"]),
  },
  details: `Prints the scores folder on stdout. Exit codes as for invoke, wait and pull.
${COMMON_DETAILS}

Examples:
  run --target local --input data/unlabeled          (npm start)
  run --input data/unlabeled --out scores/today --timeout 2h`,
});

runCli(NAME, ({ signal }) => runFlow("endpoint", spec, parseCommandLine(spec).values, signal, (l) => void process.stderr.write(`${NAME}: ${l}\n`)));
