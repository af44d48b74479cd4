"""The committed models: reproducible from the training script, a valid MLflow folder, and pinned
versions that agree everywhere (environment conda file, transforms JSON, MLmodel, model env files)."""
from __future__ import annotations

import filecmp
import json
import os
import pickle
import platform
import subprocess
import sys

import matplotlib
import numpy as np
import pandas as pd
import sklearn
import xgboost
import yaml

from conftest import MODEL, REPO, TRANSFORMS

PRODUCED = json.load(open(os.path.join(TRANSFORMS, "transformations.json")))["producedWith"]
MLMODEL = yaml.safe_load(open(os.path.join(MODEL, "MLmodel")))


def _pip_pins(dependencies: list) -> dict[str, str]:
    pins = {}
    for entry in dependencies:
        if isinstance(entry, dict):
            for requirement in entry.get("pip", []):
                name, _, version = requirement.partition("==")
                pins[name.strip().lower()] = version.strip()
    return pins


# The nested cross-validation only measures the search (a row of the card); the model folders, the figures and
# every other number do not depend on it, so the retraining here skips it (seconds instead of minutes).
NESTED_KEYS = ("nested", "nestedWinsAuc", "nestedChoices")


def test_training_again_reproduces_the_committed_models_byte_for_byte(tmp_path):
    installed = {"python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__,
                 "scikit-learn": sklearn.__version__, "xgboost": xgboost.__version__}
    assert installed == PRODUCED, "this interpreter's libraries differ from the ones that produced models/"
    drew = json.load(open(os.path.join(REPO, "models", "model-card", "metrics.json")))["versions"]["matplotlib"]
    assert matplotlib.__version__ == drew, "the model card's PNGs were drawn by another matplotlib"
    done = subprocess.run([sys.executable, os.path.join(REPO, "models", "train.py"), "--out", str(tmp_path),
                           "--skip-nested"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    for name in ("heart-classifier", "heart-classifier-transforms", "model-card"):
        committed, fresh = os.path.join(REPO, "models", name), str(tmp_path / name)
        assert sorted(os.listdir(fresh)) == sorted(os.listdir(committed)), name
        compared = [f for f in os.listdir(committed) if f != "metrics.json"]
        match, mismatch, errors = filecmp.cmpfiles(committed, fresh, compared, shallow=False)
        assert mismatch == [] and errors == [], f"{name}: differs: {mismatch + errors}"
    committed_metrics = json.load(open(os.path.join(REPO, "models", "model-card", "metrics.json")))
    fresh_metrics = json.load(open(tmp_path / "model-card" / "metrics.json"))
    assert all(k in committed_metrics["crossValidation"] for k in NESTED_KEYS), "models/ lacks the nested figures"
    for key in NESTED_KEYS:
        del committed_metrics["crossValidation"][key]
    assert fresh_metrics == committed_metrics
    assert sorted(os.listdir(tmp_path)) == ["MODEL_CARD.md", "heart-classifier", "heart-classifier-transforms",
                                            "model-card"]  # no leftovers
    dropped = len(fresh_metrics["data"]["dropped"])
    assert f"{dropped} dropped" in done.stderr and f"wrote {tmp_path}/heart-classifier" in done.stderr


def test_the_model_folder_has_the_mlflow_layout():
    assert sorted(os.listdir(MODEL)) == ["MLmodel", "conda.yaml", "model.json", "python_env.yaml", "requirements.txt"]
    pyfunc, flavor = MLMODEL["flavors"]["python_function"], MLMODEL["flavors"]["xgboost"]
    assert pyfunc["loader_module"] == "mlflow.xgboost"
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    # mlflow.xgboost saves and loads f"model.{model_format}"
    assert flavor["data"] == pyfunc["data"] == f"model.{flavor['model_format']}" == "model.json"
    assert flavor["model_class"] == "xgboost.sklearn.XGBClassifier"
    inputs = json.loads(MLMODEL["signature"]["inputs"])
    features = json.load(open(os.path.join(TRANSFORMS, "transformations.json")))["featureNames"]
    assert [c["name"] for c in inputs] == features
    assert {c["type"] for c in inputs} == {"double"} and all(c["required"] for c in inputs)
    assert json.loads(MLMODEL["signature"]["outputs"])[0]["type"] == "long"
    assert len(MLMODEL["model_uuid"]) == 32 and MLMODEL["utc_time_created"]
    assert MLMODEL["model_size_bytes"] == os.path.getsize(os.path.join(MODEL, "model.json"))
    for name in os.listdir(MODEL) + os.listdir(TRANSFORMS):
        if name != "model.json" and not name.endswith(".pkl"):
            text = open(os.path.join(MODEL if os.path.exists(os.path.join(MODEL, name)) else TRANSFORMS, name)).read()
            assert REPO not in text and "/tmp" not in text, f"{name} holds a machine path"


def test_the_pickled_transformer_is_plain_scikit_learn_and_names_the_features():
    with open(os.path.join(TRANSFORMS, "transformations.pkl"), "rb") as handle:
        transformer = pickle.load(handle)
    info = json.load(open(os.path.join(TRANSFORMS, "transformations.json")))
    assert list(transformer.get_feature_names_out()) == info["featureNames"]
    assert type(transformer).__module__.startswith("sklearn.")


def test_environment_pins_equal_the_producing_versions():
    conda = yaml.safe_load(open(os.path.join(REPO, "components", "environment", "conda.yml")))
    pins = _pip_pins(conda["dependencies"])
    for name in ("numpy", "pandas", "scikit-learn", "xgboost"):
        assert pins.get(name) == PRODUCED[name], name
    python = [d for d in conda["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    assert python == ["python=" + ".".join(PRODUCED["python"].split(".")[:2])]
    assert pins["mlflow"] == MLMODEL["mlflow_version"]
    assert {"azureml-mlflow", "pyyaml"} <= set(pins)


def test_the_model_environment_files_agree_with_the_producing_versions():
    assert MLMODEL["flavors"]["xgboost"]["xgb_version"] == PRODUCED["xgboost"]
    assert MLMODEL["flavors"]["python_function"]["python_version"] == PRODUCED["python"]
    expected = {"mlflow": MLMODEL["mlflow_version"], **{n: PRODUCED[n] for n in ("numpy", "pandas", "scikit-learn", "xgboost")}}
    model_conda = yaml.safe_load(open(os.path.join(MODEL, "conda.yaml")))
    assert _pip_pins(model_conda["dependencies"]) == expected
    requirements = open(os.path.join(MODEL, "requirements.txt")).read().split()
    assert dict(r.split("==") for r in requirements) == expected
    assert yaml.safe_load(open(os.path.join(MODEL, "python_env.yaml")))["python"] == PRODUCED["python"]


def test_both_code_folders_carry_the_same_csv_plumbing():
    # Each component's code folder is uploaded alone, so the shared module is copied, not imported.
    assert filecmp.cmp(os.path.join(REPO, "components", "prepare", "src", "csvfolder.py"),
                       os.path.join(REPO, "components", "score", "src", "csvfolder.py"), shallow=False)


def _train_script():
    import importlib.util
    spec = importlib.util.spec_from_file_location("train_script", os.path.join(REPO, "models", "train.py"))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    return train


def _refused(tmp_path, capsys, text: str) -> str:
    data = tmp_path / "in"
    data.mkdir()
    (data / "x.csv").write_text(text)
    assert _train_script().main(["--data", str(data), "--out", str(tmp_path / "out")]) == 2
    assert not os.path.exists(tmp_path / "out" / "heart-classifier")
    assert not os.path.exists(tmp_path / "out" / "MODEL_CARD.md")
    return capsys.readouterr().err


def test_training_refuses_data_without_labels(tmp_path, capsys):
    err = _refused(tmp_path, capsys, open(os.path.join(REPO, "data", "unlabeled", "heart.csv")).read())
    assert "x.csv: missing the label column 'target'" in err


def test_training_refuses_labels_other_than_0_and_1(tmp_path, capsys):
    lines = open(os.path.join(REPO, "data", "train", "heart.csv")).read().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",2"
    err = _refused(tmp_path, capsys, "\n".join(lines) + "\n")
    assert "x.csv: column 'target' must hold 0 or 1, but data row 3 holds '2'" in err


def test_training_refuses_too_few_rows_of_a_label(tmp_path, capsys):
    lines = open(os.path.join(REPO, "data", "train", "heart.csv")).read().splitlines()
    positives = [line for line in lines[1:] if line.endswith(",1")][:9]
    negatives = [line for line in lines[1:] if line.endswith(",0")][:40]
    err = _refused(tmp_path, capsys, "\n".join([lines[0]] + negatives + positives) + "\n")
    assert "only 9 rows have the label 1; the cross-validation needs at least 10 rows of each label" in err


def test_training_refuses_a_non_numeric_measurement(tmp_path, capsys):
    lines = open(os.path.join(REPO, "data", "train", "heart.csv")).read().splitlines()
    lines[5] = "sixty," + lines[5].split(",", 1)[1]
    err = _refused(tmp_path, capsys, "\n".join(lines) + "\n")
    assert "column 'age' must be numeric, but data row 5 holds 'sixty'" in err
