#!/usr/bin/env node
/**
 * Starts a TypeScript CLI fast: `node scripts/cli/launch.js <command> [args…]` runs scripts/cli/<command>.ts
 * (or `launch.js <file.ts> [args…]` any TypeScript file) with a require hook that transpiles each .ts file
 * once and keeps the JavaScript in a cache keyed by the file's content, the compiler options and the
 * TypeScript version. A warm start never loads the TypeScript compiler (0.5 s of the 0.7 s ts-node needs
 * before the first line runs), and an edited file is transpiled again on its next run, so nothing is ever
 * stale and there is no build step to forget. Same transpilation as `ts-node --transpile-only`
 * (ts.transpileModule with tsconfig.json's options); type checking stays with `npm run build` and the tests.
 *
 * Cache: HEART_TS_CACHE, else node_modules/.cache/heart-ts; when it cannot be written the hook transpiles
 * every time (slower, still correct). Plain JavaScript: it must run before any TypeScript can.
 */
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "../..");
const CACHE = process.env.HEART_TS_CACHE || path.join(ROOT, "node_modules", ".cache", "heart-ts");

let ts; // loaded only on a cache miss
let options; // tsconfig's compilerOptions, converted on first use
function compilerKey() {
  const tsconfig = fs.readFileSync(path.join(ROOT, "tsconfig.json"), "utf8");
  let version = "none";
  try {
    version = JSON.parse(fs.readFileSync(require.resolve("typescript/package.json", { paths: [ROOT] }), "utf8")).version;
  } catch {
    // no TypeScript installed: every miss fails loudly below
  }
  return `${version}\0${tsconfig}`;
}
const KEY = compilerKey();

function transpile(source, filename) {
  if (!ts) {
    ts = require(require.resolve("typescript", { paths: [ROOT] }));
    const json = JSON.parse(fs.readFileSync(path.join(ROOT, "tsconfig.json"), "utf8")).compilerOptions || {};
    options = { ...ts.convertCompilerOptionsFromJson(json, ROOT).options, inlineSourceMap: true, sourceMap: false, declaration: false, noEmit: false };
  }
  return ts.transpileModule(source, { fileName: filename, compilerOptions: options, reportDiagnostics: false }).outputText;
}

function compiled(source, filename) {
  const key = crypto.createHash("sha256").update(KEY).update("\0").update(filename).update("\0").update(source).digest("hex");
  const file = path.join(CACHE, key.slice(0, 2), `${key}.js`);
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    // not cached yet
  }
  const js = transpile(source, filename);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, js);
    fs.renameSync(tmp, file); // atomic: a concurrent run reads the old state or the whole file
  } catch {
    // read-only checkout or full disk: run without the cache
  }
  return js;
}

require.extensions[".ts"] = function loadTypeScript(module, filename) {
  module._compile(compiled(fs.readFileSync(filename, "utf8"), filename), filename);
};
if (process.env.HEART_DEBUG === "1") process.setSourceMapsEnabled(true);

const [target, ...args] = process.argv.slice(2);
if (!target) {
  process.stderr.write("usage: node scripts/cli/launch.js <command|file.ts> [args…]\n");
  process.exit(2);
}
const file = target.endsWith(".ts") ? path.resolve(target) : path.join(__dirname, `${target}.ts`);
if (!fs.existsSync(file)) {
  process.stderr.write(`launch: no such command '${target}' (${file})\n`);
  process.exit(2);
}
process.argv = [process.argv[0], file, ...args];
require(file);
