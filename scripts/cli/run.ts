/** run: invoke → wait → pull in one step, for schedules; with --target local, the README's main command. */
import { parseCommandLine, runCli } from "../lib/cli";
import { COMMON_DETAILS, defineCommand, invokeFlags, RUN_FLAGS, targetFlags } from "../lib/targets/commands";
import { runFlow } from "../lib/targets/runFlow";

const NAME = "run";
const spec = defineCommand({
  name: NAME,
  summary: "Score a folder of CSV files: invoke the endpoint, wait for the job, pull the scores.",
  usage: "run --input <folder|uri> [--out <folder>] [--timeout 2h] [--score-mode append|prediction_only] [--deployment <name>]",
  flags: {
    ...invokeFlags("endpoint"),
    ...RUN_FLAGS,
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
