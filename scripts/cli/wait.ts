/** wait: follows a job until it is final; progress on stderr; exit 0 Completed, 1 failed/canceled, 3 timeout. */
import { parseCommandLine, runCli } from "../lib/cli";
import { jobRefOf, waitStep } from "../lib/targets/commands";
import { COMMON_DETAILS, defineCommand, jobNameOf, targetFlags, targetOptionsOf, WAIT_FLAGS, waitChoiceOf } from "./flags";

const NAME = "wait";
const spec = defineCommand({
  name: NAME,
  summary: "Follow a job until it is final (Completed, Failed, Canceled, NotResponding, Paused).",
  usage: "wait <job name> [--timeout 2h] [--cancel-on-interrupt]",
  positionals: true,
  flags: { ...WAIT_FLAGS, ...targetFlags(["subscriptionId", "resourceGroupName", "workspaceName"]) },
  details: `Prints status changes and elapsed time on stderr, and the job name on stdout when it completed.
On failure it prints the failing step (when known) and the service's error message.
${COMMON_DETAILS}`,
});

runCli(NAME, async ({ signal }) => {
  const log = (l: string) => void process.stderr.write(`${NAME}: ${l}\n`);
  const { values, positionals } = parseCommandLine(spec);
  const target = targetOptionsOf(spec, values);
  const choice = waitChoiceOf(spec, values, target.target);
  const ref = await jobRefOf(target, jobNameOf(spec, positionals), [], log);
  await waitStep(ref, { ...choice, signal, log });
  process.stdout.write(`${ref.name}\n`);
  return 0;
});
