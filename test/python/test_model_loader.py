"""The score step's model loading: mlflow where importable, the MLmodel's native flavor otherwise."""
from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pandas as pd
import pytest
import xgboost
import yaml

from conftest import MODEL, files_under, ok, read_prepared, read_text, score
import model_loader


def _features(sample_scores) -> pd.DataFrame:
    spec = yaml.safe_load(open(os.path.join(MODEL, "MLmodel")))
    names = [c["name"] for c in json.loads(spec["signature"]["inputs"])]
    return read_prepared(os.path.join(sample_scores["prepared"], "heart.csv"))["features"][names]


def test_the_fallback_loader_equals_the_native_xgboost_model(sample_scores):
    features = _features(sample_scores)
    predict, how = model_loader.load_predict(MODEL, use_mlflow=False)
    assert how == "native"
    native = xgboost.XGBClassifier()
    native.load_model(os.path.join(MODEL, "model.json"))
    expected = native.predict(features)
    got = model_loader.as_labels(predict(features), "test")
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int64 and set(got) == {0, 1}
    # and the step's output carries exactly those predictions
    written = read_text(os.path.join(sample_scores["prediction_only"], "heart.csv"))["prediction"].astype(int)
    np.testing.assert_array_equal(written.to_numpy(), expected)


def test_without_mlflow_installed_the_native_path_is_chosen():
    if model_loader.mlflow_available():
        pytest.skip("mlflow is installed here; the native path is exercised with use_mlflow=False")
    assert model_loader.load_predict(MODEL)[1] == "native"


FAKE_PYFUNC = textwrap.dedent("""
    # A stand-in for mlflow.pyfunc that records the call and serves the native model.
    import os, xgboost, yaml

    class _Model:
        def __init__(self, model):
            self._model = model
        def predict(self, frame):
            return self._model.predict(frame)

    def load_model(model_uri):
        with open(os.environ["FAKE_MLFLOW_RECORD"], "a") as record:
            record.write(model_uri + "\\n")
        spec = yaml.safe_load(open(os.path.join(model_uri, "MLmodel")))["flavors"]["xgboost"]
        model = xgboost.XGBClassifier()
        model.load_model(os.path.join(model_uri, spec["data"]))
        return _Model(model)
""")


def test_mlflow_is_used_when_it_is_importable(tmp_path, sample_scores):
    fake = tmp_path / "site" / "mlflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "pyfunc.py").write_text(FAKE_PYFUNC)
    record = tmp_path / "calls.txt"
    out = str(tmp_path / "out")
    run = ok(score(sample_scores["prepared"], out, "append",
                   env_extra={"PYTHONPATH": str(tmp_path / "site"), "FAKE_MLFLOW_RECORD": str(record),
                              "PYTHONDONTWRITEBYTECODE": "1"}, cli=True))
    assert "mlflow loader" in run.stderr
    assert record.read_text().splitlines() == [MODEL]
    assert files_under(out) == ["heart.csv"]
    with open(os.path.join(out, "heart.csv"), "rb") as a, \
            open(os.path.join(sample_scores["append"], "heart.csv"), "rb") as b:
        assert a.read() == b.read()


def test_labels_other_than_0_1_are_refused():
    with pytest.raises(RuntimeError, match="0/1 labels"):
        model_loader.as_labels(np.array([0.2, 0.9]), "f.csv")
    np.testing.assert_array_equal(model_loader.as_labels(pd.DataFrame({"p": [1, 0]}), "f"), [1, 0])


def test_the_thread_count_does_not_change_the_predictions(sample_scores):
    features = _features(sample_scores)
    default, _ = model_loader.load_predict(MODEL, use_mlflow=False)
    one, _ = model_loader.load_predict(MODEL, use_mlflow=False, threads=1)
    np.testing.assert_array_equal(one(features), default(features))
    assert one.__closure__ and any(getattr(c.cell_contents, "n_jobs", None) == 1 for c in one.__closure__)
