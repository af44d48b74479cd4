"""Trains the UCI Heart models and writes them as committed, byte-reproducible folders.

    /usr/bin/python3 models/train.py [--data data/train] [--out models] [--skip-nested]

Steps: read the labeled CSVs; clean them (models/hygiene.py: one row per patient, documented codes only,
every decision logged); choose XGBoost hyper-parameters by cross-validation over a small grid
(models/recipe.py, models/evaluation.py); measure the choice, the search itself (nested) and a logistic
baseline on the same repeated folds; fit on all kept rows; write

  <out>/heart-classifier-transforms/  transformations.pkl (fitted ColumnTransformer, pickled) and
                                      transformations.json (producing versions, column lists, data used)
  <out>/heart-classifier/             an MLflow model folder (MLmodel, model.json, conda.yaml,
                                      python_env.yaml, requirements.txt), written without mlflow
  <out>/MODEL_CARD.md, <out>/model-card/  the model card, its metrics.json and PNG figures (models/card.py)

Deterministic: fixed seed, one thread, no clock, no machine paths; model_uuid is derived from the
content. Running it again with the same library versions gives the same bytes.
"""
from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of components/prepare/src (uploaded as is)

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pickle  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One definition of the feature parsing, shared with the prepare step.
sys.path.insert(0, os.path.join(REPO, "components", "prepare", "src"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the recipe's modules beside this file

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
import xgboost  # noqa: E402
import yaml  # noqa: E402

from csvfolder import InputError, list_csv_files, read_text_chunks  # noqa: E402
from heart_features import CATEGORICAL, CONTINUOUS, REQUIRED, TARGET, build_features  # noqa: E402

import card  # noqa: E402
import evaluation  # noqa: E402
import hygiene  # noqa: E402
from recipe import (FIXED, GRID_AXES, SEED, grid, make_baseline, make_classifier, make_onehot_transformer,  # noqa: E402
                    make_previous, make_transformer)

TRANSFORMS_NAME = "heart-classifier-transforms"
MODEL_NAME = "heart-classifier"
TRANSFORMER_FILE = "transformations.pkl"
VERSIONS_FILE = "transformations.json"
# JSON loads across XGBoost versions (the legacy binary format does not); mlflow's xgboost flavor
# saves to and loads from f"model.{model_format}", so the file must be named model.json.
MODEL_FORMAT = "json"
MODEL_FILE = f"model.{MODEL_FORMAT}"
# The MLflow release the scoring environment pins (components/environment/conda.yml); a test
# keeps the two equal. Its MLmodel layout is what is written below: signature columns carry
# "required" (read by ColSpec.from_json_dict; 2.7 only knew "optional" and would refuse the key
# [unconfirmed: the first release that reads "required"; 2.13+ documents it]), env as conda +
# virtualenv files, model_size_bytes = the model file's size, user "metadata" (MLflow 2.x Model field).
MLFLOW_VERSION = "2.16.2"
# A fixed creation time keeps the folder byte-reproducible; MLflow only displays it.
UTC_TIME_CREATED = "2026-01-01 00:00:00.000000"
PICKLE_PROTOCOL = 4
CARD_PATH = f"models/{card.CARD_FILE}"
# Nested stratified 5-fold inside 5-fold: each inner fold must still hold rows of both labels.
MIN_ROWS_PER_LABEL = 10


def log(message: str) -> None:
    print(f"train: {message}", file=sys.stderr, flush=True)


def producing_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "xgboost": xgboost.__version__,
    }


def read_training_data(folder: str) -> tuple[pd.DataFrame, list[str], str]:
    """Raw text rows (target stripped, checked 0/1), a label per row for messages, and a digest of the files."""
    frames, row_labels, digest = [], [], hashlib.sha256()
    for relative in list_csv_files(folder, "--data"):
        path = os.path.join(folder, relative)
        with open(path, "rb") as handle:
            digest.update(relative.encode() + b"\0" + handle.read())
        first = 1
        for chunk in read_text_chunks(path, path, chunk_rows=1_000_000):
            if TARGET not in chunk.columns:
                raise InputError(f"{path}: missing the label column '{TARGET}'")
            build_features(chunk, path, first)  # the same checks as scoring: columns present, numbers numeric
            labels = chunk[TARGET].str.strip()
            bad = ~labels.isin(["0", "1"])
            if bad.any():
                position = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(f"{path}: column '{TARGET}' must hold 0 or 1, but data row {first + position} "
                                 f"holds {chunk[TARGET].iloc[position]!r}")
            frames.append(chunk.assign(**{TARGET: labels}))
            row_labels += [f"{relative} data row {first + i}" for i in range(len(chunk))]
            first += len(chunk)
    return pd.concat(frames, ignore_index=True), row_labels, digest.hexdigest()


def log_hygiene(report: hygiene.Report) -> None:
    for row, reason in report.dropped:
        log(f"{row}: dropped ({reason})")
    for column, value, kind, code, rows in report.changes:
        log(f"column '{column}' value '{value}' ({rows} rows, {kind}): became {code or 'missing'}")
    log(f"{report.rows_read} rows read, {report.rows_kept} kept, {report.rows_changed} changed, "
        f"{len(report.dropped)} dropped")


def fit(features: pd.DataFrame, labels: pd.Series, params: dict):
    np.random.seed(SEED)
    transformer = make_transformer().fit(features)
    names = [str(n) for n in transformer.get_feature_names_out()]
    transformed = pd.DataFrame(transformer.transform(features), columns=names, index=features.index)
    classifier = make_classifier(params).fit(transformed, labels)
    return transformer, classifier, names


def evaluate(features: pd.DataFrame, labels: pd.Series, nested: bool) -> tuple[dict, dict, dict]:
    """Chosen hyper-parameters, the cross-validation section of the card, and out-of-fold probabilities."""
    candidates = grid()
    log(f"searching {len(candidates)} candidates ({evaluation.INNER_SPLITS}-fold CV on all {len(labels)} rows)")
    chosen, _ = evaluation.search(features, labels.to_numpy(), candidates)
    folds = evaluation.outer_folds(labels)
    log(f"cross-validating the chosen candidate and the references on {len(folds)} folds")
    runs = {
        "chosen": evaluation.cross_validate(features, labels, folds, lambda: make_classifier(chosen)),
        "baseline": evaluation.cross_validate(features, labels, folds, make_baseline),
        "onehotLogistic": evaluation.cross_validate(features, labels, folds, make_baseline, make_onehot_transformer),
        "previous": evaluation.cross_validate(features, labels, folds, make_previous),
    }
    section = {"folds": {"splits": evaluation.OUTER_SPLITS, "repeats": evaluation.OUTER_REPEATS, "seed": SEED},
               "innerSplits": evaluation.INNER_SPLITS}
    section.update({name: card.rounded(scores.summary()) for name, scores in runs.items()})
    section["chosenWinsAuc"] = evaluation.paired_wins(runs["chosen"].auc, runs["baseline"].auc)
    if nested:
        log(f"nested cross-validation: the search again inside each of the {len(folds)} folds (the slow part)")
        outer, choices = evaluation.nested(features, labels, folds, candidates)
        section["nested"] = card.rounded(outer.summary())
        section["nestedWinsAuc"] = evaluation.paired_wins(outer.auc, runs["baseline"].auc)
        counted: dict[str, int] = {}
        for params in choices:
            text = ", ".join(f"{k}={v}" for k, v in params.items())
            counted[text] = counted.get(text, 0) + 1
        section["nestedChoices"] = sorted(counted.items(), key=lambda item: (-item[1], item[0]))
    curves = {"XGBoost (chosen)": runs["chosen"].first_repeat, "baseline (logistic)": runs["baseline"].first_repeat}
    return chosen, section, curves


def _yaml(data) -> str:
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=True)


def write_transforms(folder: str, transformer, names: list[str], versions: dict, data: dict) -> None:
    with open(os.path.join(folder, TRANSFORMER_FILE), "wb") as handle:
        pickle.dump(transformer, handle, protocol=PICKLE_PROTOCOL)
    info = {
        "producedWith": versions,
        "inputColumns": REQUIRED,
        "continuous": CONTINUOUS,
        "categorical": CATEGORICAL,
        "featureNames": names,
        "trainingData": data,
    }
    with open(os.path.join(folder, VERSIONS_FILE), "w", encoding="utf-8", newline="\n") as handle:
        handle.write(json.dumps(info, indent=2) + "\n")


def requirements(versions: dict) -> list[str]:
    return [f"mlflow=={MLFLOW_VERSION}"] + [
        f"{name}=={versions[name]}" for name in ("numpy", "pandas", "scikit-learn", "xgboost")]


def mlmodel(names: list[str], versions: dict, model_bytes: bytes, description: str) -> dict:
    inputs = json.dumps([{"type": "double", "name": n, "required": True} for n in names])
    outputs = json.dumps([{"type": "long", "required": True}])
    identity = hashlib.sha256(model_bytes + inputs.encode() + outputs.encode()).digest()
    return {
        "flavors": {
            "python_function": {
                "data": MODEL_FILE,
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "loader_module": "mlflow.xgboost",
                "python_version": versions["python"],
            },
            "xgboost": {
                "code": None,
                "data": MODEL_FILE,
                "model_class": "xgboost.sklearn.XGBClassifier",
                "model_format": MODEL_FORMAT,
                "xgb_version": versions["xgboost"],
            },
        },
        "metadata": {"description": description, "model_card": CARD_PATH},
        "mlflow_version": MLFLOW_VERSION,
        "model_size_bytes": len(model_bytes),
        "model_uuid": uuid.UUID(bytes=identity[:16], version=4).hex,
        "signature": {"inputs": inputs, "outputs": outputs, "params": None},
        "utc_time_created": UTC_TIME_CREATED,
    }


def write_model(folder: str, classifier, names: list[str], versions: dict, description: str) -> None:
    model_path = os.path.join(folder, MODEL_FILE)
    classifier.save_model(model_path)
    with open(model_path, "rb") as handle:
        model_bytes = handle.read()
    reqs = requirements(versions)
    files = {
        "MLmodel": _yaml(mlmodel(names, versions, model_bytes, description)),
        "conda.yaml": _yaml({"channels": ["conda-forge"], "name": "mlflow-env",
                             "dependencies": [f"python={versions['python']}", "pip", {"pip": reqs}]}),
        "python_env.yaml": _yaml({"python": versions["python"], "build_dependencies": ["pip", "setuptools", "wheel"],
                                  "dependencies": ["-r requirements.txt"]}),
        "requirements.txt": "\n".join(reqs) + "\n",
    }
    for name, text in files.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)


def replace_folder(staged: str, final: str) -> None:
    if os.path.isdir(final):
        shutil.rmtree(final)
    os.replace(staged, final)


def describe(chosen: dict, rows: int) -> str:
    """The MLmodel description: what the model is, not how well it did (those figures live in the card), so the
    model folder changes only when the model does."""
    return ("UCI Heart disease classifier: XGBoost (" + ", ".join(f"{k}={v}" for k, v in chosen.items())
            + f") on the 13 transformed features, trained on {rows} patients. Data used, cross-validated metrics "
            f"against a logistic-regression baseline, confusion matrix, ROC and calibration: {CARD_PATH} in the "
            "source repository.")


def train(data: str, out: str, nested: bool = True) -> None:
    raw, row_labels, digest = read_training_data(data)
    kept, report = hygiene.clean(raw, row_labels)
    log_hygiene(report)
    features, labels = build_features(kept, data), kept[TARGET].astype("int64")
    per_label = {label: int((labels == label).sum()) for label in (0, 1)}
    scarce = min(per_label, key=per_label.get)
    if per_label[scarce] < MIN_ROWS_PER_LABEL:
        raise InputError(f"{data}: after cleaning only {per_label[scarce]} rows have the label {scarce}; the "
                         f"cross-validation needs at least {MIN_ROWS_PER_LABEL} rows of each label (0 and 1)")
    chosen, section, curves = evaluate(features, labels, nested)
    log("chosen: " + ", ".join(f"{k}={v}" for k, v in chosen.items()))
    transformer, classifier, names = fit(features, labels, chosen)
    versions = producing_versions()
    training_data = {"rowsRead": report.rows_read, "rows": report.rows_kept, "rowsChanged": report.rows_changed,
                     "rowsDropped": len(report.dropped), "sha256": digest}
    metrics = {
        # matplotlib draws the PNGs: another release may draw other bytes.
        "seed": SEED, "threshold": evaluation.THRESHOLD, "versions": {**versions, "matplotlib": card.MATPLOTLIB},
        "data": {"folder": os.path.relpath(os.path.abspath(data), REPO) if os.path.abspath(data).startswith(REPO + os.sep)
                 else os.path.basename(os.path.abspath(data)),
                 "sha256": digest, "rowsRead": report.rows_read, "rowsKept": report.rows_kept,
                 "rowsChanged": report.rows_changed, "dropped": report.dropped, "changes": report.changes,
                 "evidence": report.evidence,
                 "labels": {str(k): int(v) for k, v in labels.value_counts().sort_index().items()}},
        "grid": GRID_AXES, "candidates": len(grid()), "fixedParameters": FIXED,
        "chosenHyperParameters": chosen, "crossValidation": section,
        "confusion": card.confusion_counts(labels.to_numpy(), curves["XGBoost (chosen)"], evaluation.THRESHOLD),
    }
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".train-") as staging:
        transforms_dir = os.path.join(staging, TRANSFORMS_NAME)
        model_dir = os.path.join(staging, MODEL_NAME)
        os.mkdir(transforms_dir)
        os.mkdir(model_dir)
        write_transforms(transforms_dir, transformer, names, versions, training_data)
        write_model(model_dir, classifier, names, versions, describe(chosen, report.rows_kept))
        card.write(staging, metrics, labels.to_numpy(), curves)
        replace_folder(transforms_dir, os.path.join(out, TRANSFORMS_NAME))
        replace_folder(model_dir, os.path.join(out, MODEL_NAME))
        replace_folder(os.path.join(staging, card.CARD_DIR), os.path.join(out, card.CARD_DIR))
        os.replace(os.path.join(staging, card.CARD_FILE), os.path.join(out, card.CARD_FILE))
    figures = section.get("nested", section["chosen"])
    log(f"{'nested ' if nested else ''}cross-validated ROC AUC {figures['auc'][0]:.3f} ± {figures['auc'][1]:.3f}, "
        f"accuracy {figures['accuracy'][0]:.3f} ± {figures['accuracy'][1]:.3f} (baseline "
        f"{section['baseline']['auc'][0]:.3f} / {section['baseline']['accuracy'][0]:.3f}); wrote {out}/{TRANSFORMS_NAME}, "
        f"{out}/{MODEL_NAME} and the model card {out}/{card.CARD_FILE}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="train.py", description="Train the UCI Heart transformer and classifier.")
    parser.add_argument("--data", default=os.path.join(REPO, "data", "train"),
                        help="folder of labeled CSV files (default: data/train)")
    parser.add_argument("--out", default=os.path.join(REPO, "models"),
                        help="folder to write the two model folders into (default: models)")
    parser.add_argument("--skip-nested", action="store_true",
                        help="skip the nested cross-validation (minutes): the model folders are the same, the card "
                             "lacks the nested row (for quick checks, e.g. the reproducibility test)")
    args = parser.parse_args(argv)
    try:
        train(args.data, args.out, nested=not args.skip_nested)
    except InputError as error:
        print(f"train: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
