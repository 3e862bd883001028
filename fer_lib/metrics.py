"""Classification metrics computed from test-set predictions (scikit-learn under the hood).

Pure functions of (y_true, probabilities): the runner stores both, so every metric here can
be recomputed later from a results file.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import (accuracy_score, confusion_matrix, log_loss, precision_recall_fscore_support,
                             roc_auc_score)


def classification_report(y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str]) -> dict:
    """Accuracy, macro precision/recall/F1, per-class metrics and one-vs-rest ROC-AUC, log loss."""
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    k = len(class_names)
    labels = np.arange(k)
    y_pred = proba.argmax(1)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    mp, mr, mf, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro",
                                                    zero_division=0)
    per_class = {}
    for i, name in enumerate(class_names):
        present = (y_true == i).any() and (y_true != i).any()
        auc = float(roc_auc_score(y_true == i, proba[:, i])) if present else None
        per_class[name] = {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                           "support": int(s[i]), "auc": auc}
    aucs = [v["auc"] for v in per_class.values() if v["auc"] is not None]
    clipped = np.clip(proba, 1e-7, 1)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_precision": float(mp), "macro_recall": float(mr), "macro_f1": float(mf),
        "macro_auc": float(np.mean(aucs)) if aucs else None,
        "loss": float(log_loss(y_true, clipped / clipped.sum(1, keepdims=True), labels=labels)),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "n_test": int(len(y_true)),
    }
