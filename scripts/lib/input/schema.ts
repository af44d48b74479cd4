/**
 * The input schema the check applies, from the same sources as the pipeline: the 13 required columns
 * (scripts/lib/local/inputFolder.ts, kept equal to the Python steps' by a test), the numeric ones
 * (heart_features.CONTINUOUS; test/inputCheck.parity.test.ts compares the two), and the names an input may not
 * carry: `prediction` (added by score) and the transformer's output columns, read from the classifier's MLmodel
 * signature (never retyped here).
 */
import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import { PREDICTION_COLUMN, REQUIRED_COLUMNS } from "../local/inputFolder";
import type { ColumnRules } from "./csvCells";

/** heart_features.CONTINUOUS: parsed as numbers by prepare; the other required columns are categorical codes. */
export const NUMERIC_COLUMNS: readonly string[] = Object.freeze(["age", "trestbps", "chol", "thalach", "oldpeak", "ca"]);

export const DEFAULT_MODELS_DIR = path.resolve(__dirname, "../../../models");
export const CLASSIFIER_MODEL = "heart-classifier";

/** The feature column names in the classifier's MLmodel signature (empty when the file is not there). */
export function signatureInputNames(modelsDir: string = DEFAULT_MODELS_DIR): string[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(modelsDir, CLASSIFIER_MODEL, "MLmodel"), "utf8");
  } catch {
    return [];
  }
  const inputs = (YAML.parse(text) as { signature?: { inputs?: string } } | null)?.signature?.inputs;
  if (!inputs) return [];
  return (JSON.parse(inputs) as Array<{ name?: string }>).map((i) => i.name).filter((n): n is string => typeof n === "string");
}

export function pipelineColumnRules(modelsDir?: string): ColumnRules {
  return { required: REQUIRED_COLUMNS, numeric: NUMERIC_COLUMNS, reserved: [PREDICTION_COLUMN, ...signatureInputNames(modelsDir)] };
}
