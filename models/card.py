"""The model card: a Markdown page, its figures as PNG files and its numbers as JSON, all written by training.

Byte-reproducible: matplotlib's Agg backend, a fixed size and DPI, and no metadata in the PNGs (no software
version, no date); numbers rounded before they are written.
"""
from __future__ import annotations

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import confusion_matrix, roc_curve  # noqa: E402

from heart_codes import CODES, MAPPINGS, documented_codes  # noqa: E402

MATPLOTLIB = matplotlib.__version__
CARD_FILE = "MODEL_CARD.md"
CARD_DIR = "model-card"
METRICS_FILE = "metrics.json"
CONFUSION_PNG, ROC_PNG, CALIBRATION_PNG = "confusion-matrix.png", "roc-curve.png", "calibration.png"
DIGITS = 6
# A PNG holds no date unless told to; matplotlib adds its version as "Software" unless told not to.
PNG_METADATA = {"Software": None}
CALIBRATION_BINS = 5


def rounded(summary: dict) -> dict:
    return {name: [round(mean, DIGITS), round(sd, DIGITS)] for name, (mean, sd) in summary.items()}


def _save(figure, path: str) -> None:
    figure.savefig(path, format="png", dpi=100, metadata=PNG_METADATA)
    plt.close(figure)


def confusion_counts(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> list[list[int]]:
    """[[true negatives, false positives], [false negatives, true positives]]."""
    return confusion_matrix(labels, (probabilities >= threshold).astype(int), labels=[0, 1]).tolist()


def plot_confusion(counts: list[list[int]], path: str) -> None:
    figure, axes = plt.subplots(figsize=(4, 3.6))
    axes.imshow(np.array(counts), cmap="Blues")
    for (i, j), value in np.ndenumerate(np.array(counts)):
        axes.text(j, i, str(value), ha="center", va="center", fontsize=14,
                  color="white" if value > max(max(r) for r in counts) / 2 else "black")
    axes.set_xticks([0, 1], ["0 (no disease)", "1 (disease)"])
    axes.set_yticks([0, 1], ["0", "1"])
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    axes.set_title("Confusion matrix (out-of-fold)")
    figure.tight_layout()
    _save(figure, path)


def plot_roc(labels: np.ndarray, curves: dict[str, np.ndarray], path: str) -> None:
    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    for name, probabilities in curves.items():
        fpr, tpr, _ = roc_curve(labels, probabilities)
        axes.plot(fpr, tpr, label=name)
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_title("ROC curve (out-of-fold)")
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def plot_calibration(labels: np.ndarray, curves: dict[str, np.ndarray], path: str) -> None:
    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    for name, probabilities in curves.items():
        observed, predicted = calibration_curve(labels, probabilities, n_bins=CALIBRATION_BINS, strategy="quantile")
        axes.plot(predicted, observed, marker="o", label=name)
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set_xlabel(f"mean predicted probability ({CALIBRATION_BINS} quantile bins)")
    axes.set_ylabel("observed share with disease")
    axes.set_title("Calibration (out-of-fold)")
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def _pm(pair) -> str:
    return f"{pair[0]:.3f} ± {pair[1]:.3f}"


def _row(name: str, summary: dict) -> str:
    return (f"| {name} | {_pm(summary['auc'])} | {_pm(summary['accuracy'])} | {_pm(summary['train_auc'])} | "
            f"{_pm(summary['train_accuracy'])} | {summary['train_auc'][0] - summary['auc'][0]:.3f} |")


def _code_rules() -> list[str]:
    lines = ["| Column | Documented codes | Mapped with certainty |", "|---|---|---|"]
    for column in CODES:
        mapped = ", ".join(f"`{k}` → `{v}`" for k, v in MAPPINGS.get(column, {}).items()) or "none"
        lines.append(f"| `{column}` | {documented_codes(column)} | {mapped} |")
    return lines


def markdown(m: dict) -> str:
    """The card's text from its numbers (the metrics.json content)."""
    data, cv, chosen = m["data"], m["crossValidation"], m["chosenHyperParameters"]
    folds = cv["folds"]
    lines = [
        "# Model card: heart-classifier",
        "",
        "Written by `npm run train` (`models/train.py`) together with the two model folders; do not edit by hand.",
        "Numbers: `model-card/metrics.json`. Figures: `model-card/*.png`.",
        "",
        "## What it is",
        "",
        "An XGBoost classifier (`models/heart-classifier`, MLflow format) on the 13 features of the UCI Heart",
        "Disease data, after the fitted scikit-learn transformer `models/heart-classifier-transforms`",
        "(continuous columns: median-imputed and standardised; categorical columns: most-frequent-imputed and",
        "ordinal-encoded, unseen codes become missing). It predicts `target` (1: heart disease) with threshold",
        f"{m['threshold']}. It is a teaching and demonstration model trained on {data['rowsKept']} patients, not a",
        "clinical tool.",
        "",
        "## Training data",
        "",
        f"`{data['folder']}`: {data['rowsRead']} rows read (sha256 `{data['sha256'][:16]}…`), "
        f"**{data['rowsKept']} kept**, **{data['rowsChanged']} changed**, **{len(data['dropped'])} dropped**; "
        f"kept labels: {data['labels']['1']} with disease, {data['labels']['0']} without.",
        "",
        "Rule (`models/hygiene.py`): rows equal on every column whose coding cannot differ (age, sex, trestbps, chol,",
        "fbs, thalach, exang, oldpeak, ca) are one patient. If their labels differ, all of them are dropped",
        "(contradictory duplicate); otherwise the first row written in documented codes is kept and the others",
        "dropped (duplicate patient). In the kept rows, codes outside the documented ones are mapped where the",
        "mapping is certain and otherwise become missing (`components/prepare/src/heart_codes.py`, the same",
        "function the prepare step uses when scoring).",
        "",
    ]
    if data["dropped"]:
        lines += ["| Dropped row | Reason |", "|---|---|"] + [f"| {r} | {why} |" for r, why in data["dropped"]] + [""]
    if data["changes"]:
        lines += ["| Column | Value | Kind | Became | Rows |", "|---|---|---|---|---|"]
        lines += [f"| `{c}` | `{v}` | {k} | {t or 'missing'} | {n} |" for c, v, k, t, n in data["changes"]] + [""]
    else:
        lines += ["No kept row needed a code changed.", ""]
    if data["evidence"]:
        lines += ["Evidence for the mappings, from patients written both ways (no pair contradicts a mapping):", "",
                  "| Column | Other coding | Documented code beside it | Pairs |", "|---|---|---|---|"]
        lines += [f"| `{c}` | `{v}` | `{t}` | {n} |" for c, v, t, n in data["evidence"]] + [""]
    lines += ["Codes at scoring time (a mapped or unseen value is reported as a warning naming file, column, value",
              "and row count; unseen values are scored as missing):", ""] + _code_rules() + [""]
    lines += [
        "## Recipe and hyper-parameters",
        "",
        f"XGBoost {m['versions']['xgboost']}, one thread, seed {m['seed']}, fixed: "
        + ", ".join(f"`{k}={v}`" for k, v in m["fixedParameters"].items()) + ".",
        "Grid searched: " + ", ".join(f"`{k}` ∈ {{{', '.join(str(v) for v in vs)}}}" for k, vs in m["grid"].items())
        + f" ({m['candidates']} candidates), each scored by mean ROC AUC over stratified {cv['innerSplits']}-fold",
        "cross-validation; the best one (the first on a tie) is refitted on all kept rows.",
        "",
        "**Chosen:** " + ", ".join(f"`{k}={v}`" for k, v in chosen.items()) + ".",
        "",
        "## Cross-validated performance",
        "",
        f"Stratified {folds['splits']}-fold cross-validation repeated {folds['repeats']} times (seed {m['seed']}),",
        "the same folds for every row of the table; mean ± standard deviation over the "
        f"{folds['splits'] * folds['repeats']} folds. Train columns score the rows each fold was fitted on; the gap",
        "is train minus validation ROC AUC.",
        "",
        "| Model | ROC AUC | Accuracy | Train ROC AUC | Train accuracy | AUC gap |",
        "|---|---|---|---|---|---|",
    ]
    if "nested" in cv:
        lines.append(_row("**XGBoost, nested** (search redone inside each fold: the unbiased estimate)", cv["nested"]))
    lines += [
        _row("XGBoost, chosen hyper-parameters", cv["chosen"]),
        _row("**Baseline**: logistic regression, same features", cv["baseline"]),
        _row("Reference: logistic regression, one-hot categoricals", cv["onehotLogistic"]),
        _row("Previous recipe (depth 3, 100 trees, learning rate 0.1)", cv["previous"]),
        "",
    ]
    if "nested" in cv:
        lines += [f"Nested XGBoost beats the baseline's ROC AUC in {cv['nestedWinsAuc']:.0%} of the paired folds; "
                  "candidates chosen across the outer folds: "
                  + "; ".join(f"{text} ({n}×)" for text, n in cv["nestedChoices"]) + ".", ""]
    lines += [f"The chosen hyper-parameters beat the baseline's ROC AUC in {cv['chosenWinsAuc']:.0%} of the paired "
              "folds. They were picked on these rows, so their row is slightly optimistic; the nested row is not.", ""]
    lines += [
        "## Out-of-fold predictions",
        "",
        "First repetition of the folds above (each kept row predicted once, by a model that never saw it), with the",
        "chosen hyper-parameters.",
        "",
        f"Confusion matrix at threshold {m['threshold']}:",
        "",
        "| | predicted 0 | predicted 1 |",
        "|---|---|---|",
        f"| **actual 0** | {m['confusion'][0][0]} | {m['confusion'][0][1]} |",
        f"| **actual 1** | {m['confusion'][1][0]} | {m['confusion'][1][1]} |",
        "",
        f"![Confusion matrix]({CARD_DIR}/{CONFUSION_PNG})",
        f"![ROC curve]({CARD_DIR}/{ROC_PNG})",
        f"![Calibration]({CARD_DIR}/{CALIBRATION_PNG})",
        "",
        "## Limitations",
        "",
        f"- {data['rowsKept']} patients from one data set; the spread above is the fold-to-fold variation on them,",
        "  not a guarantee on another population.",
        "- The other coding (cp 0-3, numeric thal) reuses documented numbers with other meanings in cp, restecg and",
        "  slope; a file written that way is only partly detectable (cp 0 and numeric thal are; the rest scores as",
        "  if documented).",
        "- The threshold is fixed at 0.5; the calibration plot shows how far the probabilities can be read as risks.",
        "",
    ]
    return "\n".join(lines)


def write(out: str, metrics: dict, labels: np.ndarray, curves: dict[str, np.ndarray]) -> None:
    """Writes out/MODEL_CARD.md and out/model-card/ (metrics.json and the three PNGs)."""
    folder = os.path.join(out, CARD_DIR)
    os.makedirs(folder, exist_ok=True)
    plot_confusion(metrics["confusion"], os.path.join(folder, CONFUSION_PNG))
    plot_roc(labels, curves, os.path.join(folder, ROC_PNG))
    plot_calibration(labels, curves, os.path.join(folder, CALIBRATION_PNG))
    with open(os.path.join(folder, METRICS_FILE), "w", encoding="utf-8", newline="\n") as handle:
        handle.write(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    with open(os.path.join(out, CARD_FILE), "w", encoding="utf-8", newline="\n") as handle:
        handle.write(markdown(metrics))
