/** pull: downloads a completed job's scores into a local folder (temp file + rename, MD5-checked, no silent overwrite). */
import { parseCommandLine, runCli, stringFlag } from "../lib/cli";
import { jobRefOf, outFolderFor, pullStep } from "../lib/targets/commands";
import { COMMON_DETAILS, defineCommand, jobNameOf, outFlag, outOf, PULL_FLAGS, targetFlags, targetOptionsOf } from "./flags";

const NAME = "pull";
const spec = defineCommand({
  name: NAME,
  summary: "Download a completed job's scores output into a local folder.",
  usage: "pull <job name> [--out <folder>] [--force] [--json]",
  positionals: true,
  flags: {
    out: outFlag(),
    "scores-uri": { type: "string", valueName: "uri", description: "Read the scores from this folder URI instead of the job's reported output." },
    ...PULL_FLAGS,
    json: { type: "boolean", description: "Print JSON (folder, files, downloaded, skipped) instead of the folder." },
    ...targetFlags(["subscriptionId", "resourceGroupName", "workspaceName", "datastoreName"]),
  },
  details: `Files are downloaded concurrently, each to a temporary name, checked against the blob's Content-MD5 when it
has one, and renamed into place once all are complete. Files already there with the same content are skipped;
if any file there differs, nothing is written (exit 2) unless --force.
${COMMON_DETAILS}`,
});

runCli(NAME, async ({ signal }) => {
  const log = (l: string) => void process.stderr.write(`${NAME}: ${l}\n`);
  const { values, positionals } = parseCommandLine(spec);
  const target = targetOptionsOf(spec, values);
  const name = jobNameOf(spec, positionals);
  const out = outOf(spec, values);
  const scoresUri = stringFlag(spec, values, "scores-uri");
  const ref = await jobRefOf(target, name, ["datastoreName"], log);
  const r = await pullStep(ref, outFolderFor(out, name), { force: values.force === true, scoresUri, signal, log });
  process.stdout.write(values.json === true ? `${JSON.stringify({ jobName: name, ...r })}\n` : `${r.outDir}\n`);
  return 0;
});
