"""Trains the UCI Heart models and writes them as committed, byte-reproducible folders.

    /usr/bin/python3 models/train.py [--data data/train] [--out models]

Writes
  <out>/heart-classifier-transforms/  transformations.pkl (fitted ColumnTransformer, pickled) and
                                      transformations.json (producing versions, column lists)
  <out>/heart-classifier/             an MLflow model folder (MLmodel, model.json, conda.yaml,
                                      python_env.yaml, requirements.txt), written without mlflow

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

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
import xgboost  # noqa: E402
import yaml  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OrdinalEncoder, StandardScaler  # noqa: E402

from csvfolder import InputError, list_csv_files, read_text_chunks  # noqa: E402
from heart_features import CATEGORICAL, CONTINUOUS, REQUIRED, TARGET, build_features  # noqa: E402

SEED = 42
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
# virtualenv files, model_size_bytes = the model file's size.
MLFLOW_VERSION = "2.16.2"
# A fixed creation time keeps the folder byte-reproducible; MLflow only displays it.
UTC_TIME_CREATED = "2026-01-01 00:00:00.000000"
PICKLE_PROTOCOL = 4


def producing_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "xgboost": xgboost.__version__,
    }


def read_training_data(folder: str) -> tuple[pd.DataFrame, pd.Series, str]:
    """Features, 0/1 labels, and a digest of the training files (provenance)."""
    frames, digest = [], hashlib.sha256()
    for relative in list_csv_files(folder, "--data"):
        path = os.path.join(folder, relative)
        with open(path, "rb") as handle:
            digest.update(relative.encode() + b"\0" + handle.read())
        for chunk in read_text_chunks(path, path, chunk_rows=1_000_000):
            if TARGET not in chunk.columns:
                raise InputError(f"{path}: missing the label column '{TARGET}'")
            frames.append(chunk)
    raw = pd.concat(frames, ignore_index=True)
    labels = raw[TARGET].str.strip()
    if not labels.isin(["0", "1"]).all():
        bad = labels[~labels.isin(["0", "1"])].iloc[0]
        raise InputError(f"{folder}: column '{TARGET}' must hold 0 or 1, found {bad!r}")
    return build_features(raw, folder), labels.astype("int64"), digest.hexdigest()


def make_transformer() -> ColumnTransformer:
    continuous = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline([
        ("impute", SimpleImputer(strategy="most_frequent")),
        # Unseen categories become NaN, which XGBoost treats as missing, instead of failing.
        ("encode", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)),
    ])
    return ColumnTransformer(
        [("num", continuous, CONTINUOUS), ("cat", categorical, CATEGORICAL)],
        remainder="drop", verbose_feature_names_out=True)


def make_classifier() -> xgboost.XGBClassifier:
    return xgboost.XGBClassifier(
        n_estimators=100, max_depth=3, learning_rate=0.1, subsample=1.0, colsample_bytree=1.0,
        tree_method="hist", n_jobs=1, random_state=SEED, eval_metric="logloss")


def fit(features: pd.DataFrame, labels: pd.Series):
    np.random.seed(SEED)
    transformer = make_transformer().fit(features)
    names = [str(n) for n in transformer.get_feature_names_out()]
    transformed = pd.DataFrame(transformer.transform(features), columns=names, index=features.index)
    classifier = make_classifier().fit(transformed, labels)
    return transformer, classifier, names


def _yaml(data) -> str:
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=True)


def write_transforms(folder: str, transformer, names: list[str], versions: dict, data_digest: str, rows: int) -> None:
    with open(os.path.join(folder, TRANSFORMER_FILE), "wb") as handle:
        pickle.dump(transformer, handle, protocol=PICKLE_PROTOCOL)
    info = {
        "producedWith": versions,
        "inputColumns": REQUIRED,
        "continuous": CONTINUOUS,
        "categorical": CATEGORICAL,
        "featureNames": names,
        "trainingData": {"rows": rows, "sha256": data_digest},
    }
    with open(os.path.join(folder, VERSIONS_FILE), "w", encoding="utf-8", newline="\n") as handle:
        handle.write(json.dumps(info, indent=2) + "\n")


def requirements(versions: dict) -> list[str]:
    return [f"mlflow=={MLFLOW_VERSION}"] + [
        f"{name}=={versions[name]}" for name in ("numpy", "pandas", "scikit-learn", "xgboost")]


def mlmodel(names: list[str], versions: dict, model_bytes: bytes) -> dict:
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
        "mlflow_version": MLFLOW_VERSION,
        "model_size_bytes": len(model_bytes),
        "model_uuid": uuid.UUID(bytes=identity[:16], version=4).hex,
        "signature": {"inputs": inputs, "outputs": outputs, "params": None},
        "utc_time_created": UTC_TIME_CREATED,
    }


def write_model(folder: str, classifier, names: list[str], versions: dict) -> None:
    model_path = os.path.join(folder, MODEL_FILE)
    classifier.save_model(model_path)
    with open(model_path, "rb") as handle:
        model_bytes = handle.read()
    reqs = requirements(versions)
    files = {
        "MLmodel": _yaml(mlmodel(names, versions, model_bytes)),
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


def train(data: str, out: str) -> None:
    features, labels, digest = read_training_data(data)
    transformer, classifier, names = fit(features, labels)
    versions = producing_versions()
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".train-") as staging:
        transforms_dir = os.path.join(staging, TRANSFORMS_NAME)
        model_dir = os.path.join(staging, MODEL_NAME)
        os.mkdir(transforms_dir)
        os.mkdir(model_dir)
        write_transforms(transforms_dir, transformer, names, versions, digest, len(labels))
        write_model(model_dir, classifier, names, versions)
        replace_folder(transforms_dir, os.path.join(out, TRANSFORMS_NAME))
        replace_folder(model_dir, os.path.join(out, MODEL_NAME))
    accuracy = float((classifier.predict(pd.DataFrame(transformer.transform(features), columns=names)) == labels).mean())
    print(f"train: {len(labels)} rows, training accuracy {accuracy:.3f}; wrote {out}/{TRANSFORMS_NAME} "
          f"and {out}/{MODEL_NAME}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="train.py", description="Train the UCI Heart transformer and classifier.")
    parser.add_argument("--data", default=os.path.join(REPO, "data", "train"),
                        help="folder of labeled CSV files (default: data/train)")
    parser.add_argument("--out", default=os.path.join(REPO, "models"),
                        help="folder to write the two model folders into (default: models)")
    args = parser.parse_args(argv)
    try:
        train(args.data, args.out)
    except InputError as error:
        print(f"train: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
