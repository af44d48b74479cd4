/**
 * `pulumi preview` must neither upload nor call Azure, and must still show a changed file as a change.
 * Under mocks the engine never runs the dynamic providers, so this test plays the engine's part for preview:
 * it runs the program twice in preview mode (before and after a model file changes) and calls, for every
 * dynamic resource, the provider methods the engine calls during a preview (`check`, `diff`) with providers
 * whose Azure seams throw. A provider that reached for Azure or storage in preview fails here.
 */
import assert from "assert";
import * as fs from "fs";
import * as path from "path";
import type * as pulumi from "@pulumi/pulumi";
import { copyProject, ProgramRun, rawConfig, runProgram, stackProgram } from "./support/pulumiMocks";

const UPLOAD = "pulumi-nodejs:dynamic/heartscoring:FolderUpload";
const ASSET = "pulumi-nodejs:dynamic/heartscoring:WorkspaceAssetVersion";
const POINTER = "pulumi-nodejs:dynamic/heartscoring:DefaultDeployment";

function trap(what: string): never {
  throw new Error(`${what} was called during preview`);
}

/** Providers whose every edge to Azure or storage throws. */
function trappedProviders(): Record<string, pulumi.dynamic.ResourceProvider> {
  const { makeFolderUploadProvider } = require("../infra/folderUploadResource") as typeof import("../infra/folderUploadResource");
  const { makeAssetVersionProvider } = require("../infra/assetVersion") as typeof import("../infra/assetVersion");
  const { makeDefaultDeploymentProvider } = require("../infra/defaultDeployment") as typeof import("../infra/defaultDeployment");
  return {
    [UPLOAD]: makeFolderUploadProvider({
      resolveTarget: () => trap("the datastore look-up"),
      upload: () => trap("the folder upload"),
      isComplete: () => trap("the upload check"),
      projectRoot: () => trap("the project root (files read)"),
    }),
    [ASSET]: makeAssetVersionProvider({ assets: () => trap("the asset-version API") }),
    [POINTER]: makeDefaultDeploymentProvider({ endpoints: () => trap("the endpoint API") }),
  };
}

/** What the engine holds as a resource's old state: its inputs plus the outputs the mocks report. */
function dynamicResources(run: ProgramRun): Map<string, { type: string; inputs: Record<string, any> }> {
  return new Map(run.resources.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/")).map((r) => [`${r.type}::${r.name}`, { type: r.type, inputs: r.inputs }]));
}

describe("stack (mocks): preview makes no upload and no Azure call", function () {
  let previewBefore: ProgramRun;
  let previewAfter: ProgramRun;
  let root: string;

  before(async () => {
    root = copyProject();
    previewBefore = await runProgram(stackProgram(rawConfig(), root), { dryRun: true });
    fs.appendFileSync(path.join(root, "models", "heart-classifier", "conda.yaml"), "# a changed model file\n");
    previewAfter = await runProgram(stackProgram(rawConfig(), root), { dryRun: true });
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("runs check and diff of every dynamic resource without touching Azure, and the changed model shows", async () => {
    const providers = trappedProviders();
    const olds = dynamicResources(previewBefore);
    const news = dynamicResources(previewAfter);
    const kinds = new Set([...news.values()].map((r) => r.type));
    assert.deepStrictEqual([...kinds].sort(), [UPLOAD, ASSET, POINTER].sort(), "every dynamic resource type is exercised");
    let diffs = 0;
    const changed: string[] = [];
    for (const [urn, next] of news) {
      const provider = providers[next.type];
      const prev = olds.get(urn);
      const checked = provider.check ? (await provider.check(prev?.inputs ?? {}, next.inputs)).inputs ?? next.inputs : next.inputs;
      if (!prev) {
        changed.push(urn); // a new resource: preview shows a create and runs nothing more
        continue;
      }
      const d = await provider.diff!(`${urn}-id`, prev.inputs, checked);
      diffs += 1;
      if (d.changes) changed.push(urn);
    }
    assert.ok(diffs >= news.size - 4, `diffed the unchanged resources (${diffs} of ${news.size})`);
    // The changed conda.yaml is part of the heart-classifier folder: a new upload and a new model version.
    assert.ok(changed.some((u) => u.startsWith(`${UPLOAD}::heart-classifier-`)), `upload of the changed model shows: ${changed.join(", ")}`);
    assert.ok(changed.some((u) => u.startsWith(`${ASSET}::heart-classifier-`)), `new model version shows: ${changed.join(", ")}`);
    assert.ok(!changed.some((u) => u.includes("heart-classifier-transforms")), "the other model does not change");
  });

  it("the trap is armed: a create in preview would have been caught", async () => {
    const providers = trappedProviders();
    const [, upload] = [...dynamicResources(previewAfter)].find(([, r]) => r.type === UPLOAD)!;
    await assert.rejects(providers[UPLOAD].create!(upload.inputs), /called during preview/);
    const [, asset] = [...dynamicResources(previewAfter)].find(([, r]) => r.type === ASSET)!;
    await assert.rejects(providers[ASSET].create!(asset.inputs), /called during preview/);
  });
});
