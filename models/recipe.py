"""The training recipe: the feature transformer, the XGBoost classifier and its hyper-parameter grid, and the
logistic-regression baseline it must match. Every estimator is seeded and single-threaded, so a fit on the
same rows gives the same bytes."""
from __future__ import annotations

import itertools

import numpy as np
import xgboost
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from heart_features import CATEGORICAL, CONTINUOUS

SEED = 42

# Small on purpose: ~300 rows reward shallow trees, few rounds and strong regularisation, and the nested
# search must stay a few minutes on two cores. Ordered simplest first; a tie keeps the earlier one.
GRID_AXES = {
    "max_depth": [1, 2],
    "learning_rate": [0.05, 0.1],
    "reg_lambda": [1.0, 10.0],
    "n_estimators": [100, 200],
}
# Fixed for every candidate: at least 5 rows' worth of hessian in a leaf, all rows and columns per tree.
FIXED = {"min_child_weight": 5.0, "subsample": 1.0, "colsample_bytree": 1.0}


def grid() -> list[dict]:
    names = list(GRID_AXES)
    return [dict(zip(names, values)) for values in itertools.product(*GRID_AXES.values())]


def make_transformer(encoder=None) -> ColumnTransformer:
    """The shipped transformer; `encoder` replaces the categorical encoding (the card's one-hot reference)."""
    continuous = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline([
        ("impute", SimpleImputer(strategy="most_frequent")),
        # Unseen categories become NaN, which XGBoost treats as missing, instead of failing.
        ("encode", encoder or OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)),
    ])
    return ColumnTransformer(
        [("num", continuous, CONTINUOUS), ("cat", categorical, CATEGORICAL)],
        remainder="drop", verbose_feature_names_out=True)


def make_classifier(params: dict) -> xgboost.XGBClassifier:
    # "exact" split finding: on a few hundred rows it costs less than building "hist"'s histograms on every fit.
    return xgboost.XGBClassifier(
        **params, **FIXED, tree_method="exact", n_jobs=1, random_state=SEED, eval_metric="logloss")


def make_baseline() -> LogisticRegression:
    """The baseline: a plain (L2, C=1) logistic regression on the same transformed features."""
    return LogisticRegression(C=1.0, max_iter=1000)


def make_onehot_transformer() -> ColumnTransformer:
    """A reference encoding for the card only: one indicator column per categorical code."""
    return make_transformer(OneHotEncoder(handle_unknown="ignore", sparse_output=False))


# The recipe shipped before the nested search, kept as a reference row of the model card.
PREVIOUS = {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1}


def make_previous() -> xgboost.XGBClassifier:
    return xgboost.XGBClassifier(**PREVIOUS, tree_method="hist", n_jobs=1, random_state=SEED, eval_metric="logloss")
