"""Loads the MLflow model folder as a predict function: mlflow where installed, else the native flavor.

On Azure ML the environment has mlflow, and mlflow.pyfunc.load_model is the supported way to
load an MLflow model (it enforces the signature). Where mlflow is absent (local runs here), the
MLmodel file is read directly and the xgboost flavor's native model is loaded the way
mlflow.xgboost._load_model does: instantiate flavors.xgboost.model_class, call load_model on
flavors.xgboost.data. Both give the model's predict() labels.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Callable

import numpy as np
import pandas as pd
import yaml

from csvfolder import InputError

MLMODEL_FILE = "MLmodel"
Predict = Callable[[pd.DataFrame], np.ndarray]


def read_mlmodel(model_dir: str) -> dict:
    path = os.path.join(model_dir, MLMODEL_FILE)
    if not os.path.isfile(path):
        raise InputError(f"--model {model_dir}: no {MLMODEL_FILE} file (expected an MLflow model folder)")
    with open(path, encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    if not isinstance(spec, dict):
        raise InputError(f"{path}: not an MLmodel YAML mapping")
    return spec


def signature_inputs(spec: dict, model_dir: str) -> list[str]:
    """Column names of the model's input signature, in order."""
    try:
        columns = json.loads(spec["signature"]["inputs"])
        names = [column["name"] for column in columns]
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{os.path.join(model_dir, MLMODEL_FILE)}: no column-based input signature "
                         "(signature.inputs with named columns)") from None
    return names


def mlflow_available() -> bool:
    try:
        importlib.import_module("mlflow.pyfunc")
    except ImportError:
        return False
    return True


def _load_with_mlflow(model_dir: str) -> Predict:
    import mlflow.pyfunc
    model = mlflow.pyfunc.load_model(model_dir)
    return model.predict


def _load_native(model_dir: str, spec: dict, threads: int | None = None) -> Predict:
    flavor = (spec.get("flavors") or {}).get("xgboost")
    if not isinstance(flavor, dict) or "data" not in flavor:
        raise InputError(f"{os.path.join(model_dir, MLMODEL_FILE)}: mlflow is not installed and the model "
                         "has no xgboost flavor to load natively (flavors.xgboost.data)")
    model_class = flavor.get("model_class", "xgboost.core.Booster")
    module_name, _, class_name = model_class.rpartition(".")
    if module_name.split(".")[0] != "xgboost":
        raise InputError(f"{os.path.join(model_dir, MLMODEL_FILE)}: flavors.xgboost.model_class "
                         f"{model_class!r} is not an XGBoost class")
    import xgboost
    model = getattr(importlib.import_module(module_name), class_name)()
    model.load_model(os.path.join(model_dir, flavor["data"]))
    if threads:
        if isinstance(model, xgboost.Booster):
            model.set_param({"nthread": threads})
        else:
            model.set_params(n_jobs=threads)
    if isinstance(model, xgboost.Booster):
        return lambda frame: model.predict(xgboost.DMatrix(frame), validate_features=True)
    return lambda frame: model.predict(frame, validate_features=True)


def load_predict(model_dir: str, use_mlflow: bool | None = None, threads: int | None = None) -> tuple[Predict, str]:
    """(predict function, "mlflow" | "native"). use_mlflow=None picks mlflow when it imports. threads: how many
    threads XGBoost may use (None: its default, every core); the predictions do not depend on it."""
    if threads and "xgboost" not in sys.modules:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # read once, when XGBoost's OpenMP runtime loads (mlflow path too)
    spec = read_mlmodel(model_dir)
    if use_mlflow is None:
        use_mlflow = mlflow_available()
    if use_mlflow:
        return _load_with_mlflow(model_dir), "mlflow"
    return _load_native(model_dir, spec, threads), "native"


def as_labels(predictions, source: str) -> np.ndarray:
    """Model output → 0/1 int64 labels; anything else is refused rather than written."""
    values = np.asarray(predictions.to_numpy() if hasattr(predictions, "to_numpy") else predictions)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or not np.isin(values, [0, 1]).all():
        raise RuntimeError(f"{source}: the model returned something other than 0/1 labels "
                           f"(shape {values.shape}, first values {values.ravel()[:3].tolist()})")
    return values.astype("int64")
