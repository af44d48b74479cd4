/** jobs: lists the batch endpoint's running jobs, and with --cancel cancels them (run before `pulumi destroy`). */
import { parseCommandLine, runCli } from "../lib/cli";
import { openAzure, waitAllFinal } from "../lib/targets/commands";
import { COMMON_DETAILS, defineCommand, targetFlags, targetOptionsOf, timeoutMsOf } from "./flags";

const NAME = "jobs";
const spec = defineCommand({
  name: NAME,
  summary: "List the endpoint's jobs that are still running; --cancel cancels them and waits until they have stopped.",
  usage: "jobs [--cancel] [--timeout 10m] [--json]",
  flags: {
    cancel: { type: "boolean", description: "Cancel every running job of the endpoint, then wait until each is final." },
    timeout: { type: "string", valueName: "duration", description: "With --cancel: stop waiting for the jobs to stop after this long (exit 3).", default: "15m" },
    json: { type: "boolean", description: "Print JSON (one object per job) instead of names." },
    ...targetFlags(["subscriptionId", "resourceGroupName", "workspaceName", "endpointName"]),
  },
  details: `Before \`pulumi destroy\`: run \`jobs --cancel\` so no job holds the deployment or the cluster.
A job counts as the endpoint's when its property azureml.endpointname names it.
${COMMON_DETAILS}`,
});

runCli(NAME, async ({ signal }) => {
  const log = (l: string) => void process.stderr.write(`${NAME}: ${l}\n`);
  const { values } = parseCommandLine(spec);
  const target = targetOptionsOf(spec, values);
  const timeoutMs = timeoutMsOf(spec, values);
  const cancel = values.cancel === true;
  const json = values.json === true;
  if (target.target === "local") {
    const { localCancel, localRunningJobs } = await import("../lib/targets/local");
    const ids = localRunningJobs(target.runsDir);
    process.stdout.write(json ? `${JSON.stringify(ids.map((name) => ({ name })))}\n` : ids.map((n) => `${n}\n`).join(""));
    if (!cancel) return 0;
    for (const id of ids) log(`${id}: ${await localCancel(target.runsDir, id)}`);
    await waitAllFinal(ids.map((name) => ({ target: "local", name, runsDir: target.runsDir })), { timeoutMs, signal, log });
    return 0;
  }
  const s = await openAzure(target.workspace, ["endpointName"], [], log);
  const { azureCancel, azureRunningJobs } = await import("../lib/targets/azure");
  const running = await azureRunningJobs(s, signal);
  if (json) process.stdout.write(`${JSON.stringify(running.map((j) => ({ name: j.name, status: j.status, deployment: j.properties["azureml.deploymentname"], createdAt: j.createdAt })))}\n`);
  else process.stdout.write(running.map((j) => `${j.name}\t${j.status}\n`).join(""));
  log(`${running.length} running job(s) on endpoint ${s.settings.endpointName}`);
  if (!cancel || running.length === 0) return 0;
  for (const j of running) log(`${j.name}: cancel ${await azureCancel(s, j.name, signal)}`);
  await waitAllFinal(running.map((j) => ({ target: "azure", name: j.name, azure: s })), { timeoutMs, signal, log, env: s.env });
  return 0;
});
