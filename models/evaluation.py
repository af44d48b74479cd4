"""Cross-validation of the recipe: the repeated folds, the hyper-parameter search, the nested estimate of that
search, and the baseline on the same folds. Pure: features and labels in, numbers out; no file is written."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

from recipe import SEED, make_classifier, make_transformer

OUTER_SPLITS, OUTER_REPEATS, INNER_SPLITS = 5, 5, 5
THRESHOLD = 0.5


def outer_folds(labels: pd.Series) -> list[tuple[np.ndarray, np.ndarray]]:
    """5-fold stratified cross-validation repeated 5 times, seeded: the folds every figure is measured on."""
    splitter = RepeatedStratifiedKFold(n_splits=OUTER_SPLITS, n_repeats=OUTER_REPEATS, random_state=SEED)
    return list(splitter.split(np.zeros(len(labels)), labels))


def inner_folds(labels: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    splitter = StratifiedKFold(n_splits=INNER_SPLITS, shuffle=True, random_state=SEED)
    return list(splitter.split(np.zeros(len(labels)), labels))


def _transformed(features: pd.DataFrame, train: np.ndarray, test: np.ndarray, make=make_transformer):
    transformer = make().fit(features.iloc[train])
    return transformer.transform(features.iloc[train]), transformer.transform(features.iloc[test])


@dataclass
class FoldScores:
    auc: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    train_auc: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    # Out-of-fold probability of each row in the first repetition (every row predicted exactly once).
    first_repeat: np.ndarray | None = None

    def add(self, y_train, p_train, y_test, p_test) -> None:
        self.auc.append(float(roc_auc_score(y_test, p_test)))
        self.accuracy.append(float(accuracy_score(y_test, p_test >= THRESHOLD)))
        self.train_auc.append(float(roc_auc_score(y_train, p_train)))
        self.train_accuracy.append(float(accuracy_score(y_train, p_train >= THRESHOLD)))

    def summary(self) -> dict:
        """Mean and standard deviation over folds of each metric."""
        return {name: (float(np.mean(v)), float(np.std(v)))
                for name, v in (("auc", self.auc), ("accuracy", self.accuracy),
                                ("train_auc", self.train_auc), ("train_accuracy", self.train_accuracy))}


def cross_validate(features: pd.DataFrame, labels: pd.Series, folds, make_model: Callable[[], object],
                   make=make_transformer) -> FoldScores:
    """Fits transformer + model on each fold's training rows, scores both sides of the fold."""
    y = labels.to_numpy()
    scores = FoldScores(first_repeat=np.full(len(y), np.nan))
    for index, (train, test) in enumerate(folds):
        a, b = _transformed(features, train, test, make)
        model = make_model().fit(a, y[train])
        p_test = model.predict_proba(b)[:, 1]
        scores.add(y[train], model.predict_proba(a)[:, 1], y[test], p_test)
        if index < OUTER_SPLITS:
            scores.first_repeat[test] = p_test
    return scores


def search(features: pd.DataFrame, labels: np.ndarray, grid: list[dict]) -> tuple[dict, list[float]]:
    """The candidate with the best mean ROC AUC over inner stratified 5-fold CV (first one on a tie), and every
    candidate's mean. Candidates differing only in n_estimators share one fit: the first n trees of a longer
    run are the shorter run (no row or column sampling), scored with iteration_range."""
    folds = inner_folds(labels)
    totals = np.zeros(len(grid))
    shared: dict[tuple, list[int]] = {}
    for i, params in enumerate(grid):
        shared.setdefault(tuple(sorted((k, v) for k, v in params.items() if k != "n_estimators")), []).append(i)
    for train, test in folds:
        a, b = _transformed(features, train, test)
        for members in shared.values():
            longest = max(grid[i]["n_estimators"] for i in members)
            model = make_classifier({**grid[members[0]], "n_estimators": longest}).fit(a, labels[train])
            for i in members:
                p = model.predict_proba(b, iteration_range=(0, grid[i]["n_estimators"]))[:, 1]
                totals[i] += roc_auc_score(labels[test], p)
    means = list(totals / len(folds))
    best = int(np.argmax(means))  # argmax keeps the first of equal values
    return grid[best], means


def nested(features: pd.DataFrame, labels: pd.Series, folds, grid: list[dict]) -> tuple[FoldScores, list[dict]]:
    """The whole recipe (search, then fit) judged on rows the search never saw: per outer fold the search runs on
    the fold's training rows only. Returns the outer scores and each fold's chosen candidate."""
    y = labels.to_numpy()
    scores, chosen = FoldScores(first_repeat=np.full(len(y), np.nan)), []
    for index, (train, test) in enumerate(folds):
        params, _ = search(features.iloc[train].reset_index(drop=True), y[train], grid)
        chosen.append(params)
        a, b = _transformed(features, train, test)
        model = make_classifier(params).fit(a, y[train])
        p_test = model.predict_proba(b)[:, 1]
        scores.add(y[train], model.predict_proba(a)[:, 1], y[test], p_test)
        if index < OUTER_SPLITS:
            scores.first_repeat[test] = p_test
    return scores, chosen


def paired_wins(model: list[float], reference: list[float]) -> float:
    """Share of folds where the model scores strictly higher than the reference on the same fold."""
    return float(np.mean(np.array(model) > np.array(reference)))
