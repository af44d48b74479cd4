/** run: invoke → wait → pull in one step, for schedules; with --target local, the README's main command. */
import { parseCommandLine, runCli } from "../lib/cli";
import { runFlow } from "../lib/targets/runFlow";
import { COMMON_DETAILS, defineCommand, invokeFlags, RUN_FLAGS, runOptionsOf, targetFlags } from "./flags";

const NAME = "run";
const spec = defineCommand({
  name: NAME,
  summary: "Score a folder of CSV files: invoke the endpoint, wait for the job, pull the scores.",
  usage: "run --input <folder|uri> [--out <folder>] [--timeout 2h] [--score-mode append|prediction_only] [--deployment <name>]",
  flags: {
    ...invokeFlags("endpoint"),
    ...RUN_FLAGS,
    json: { type: "boolean", description: "Print JSON (job name, scores folder, files) instead of the folder." },
    ...targetFlags(["subscriptionId", "resourceGroupName", "workspaceName", "endpointName", "datastoreName"], { workers: true }),
  },
  details: `Prints the scores folder on stdout. Exit codes as for invoke, wait and pull. A local input is checked first,
every header and every cell (exit 2, nothing uploaded or started).
${COMMON_DETAILS}

Examples:
  run --target local --input data/unlabeled          (npm start)
  run --target local --input data/unlabeled --workers 2
  run --input data/unlabeled --out scores/today --timeout 2h`,
});

runCli(NAME, async ({ signal }) => {
  const { values } = parseCommandLine(spec);
  return runFlow(runOptionsOf("endpoint", spec, values), { json: values.json === true, signal, log: (l) => void process.stderr.write(`${NAME}: ${l}\n`) });
});
