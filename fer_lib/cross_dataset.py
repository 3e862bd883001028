"""FER2013-trained models tested on CK+48: how far a paper's accuracy travels to another dataset.

CK+48 shares six of FER2013's seven emotions (contempt is CK+ only, neutral FER2013 only). Every
CK+48 image of a shared class is put through the run's own preprocessing and input format; the
model's prediction is its most probable class among those six (neutral cannot be the answer on a
dataset without neutral faces), and the same rule is applied to the run's FER2013 test images of
those classes, so the drop compares like with like. The runner records both in each FER2013
result (``cross_dataset``); the book reads them from there.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from fer_lib.config import FER2013_CLASSES, DataPaths
from fer_lib.experiment_data import load_dataset, preprocess_raw

#: FER2013 class -> CK+48 class of the same emotion.
SHARED = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happy", "sad": "sadness",
          "surprise": "surprise"}


def model_applies(spec: dict, class_names: Sequence[str]) -> bool:
    """A seven-class FER2013 model on still images: one this test is made for."""
    return (spec.get("dataset", "fer2013") == "fer2013" and tuple(class_names) == FER2013_CLASSES
            and spec.get("input", "gray01") in ("gray01", "rgb255", "volume01"))


def applies(spec: dict, class_names: Sequence[str], paths: DataPaths) -> bool:
    """:func:`model_applies`, with CK+48 on this machine."""
    return model_applies(spec, class_names) and paths.ckplus is not None and paths.ckplus.exists()


def ckplus_inputs(steps: tuple[str, ...], input_kind: str, paths: DataPaths) -> tuple[np.ndarray, np.ndarray]:
    """CK+48 images of the shared emotions as the model reads them, and their FER2013 label indices."""
    ck = load_dataset({"dataset": "ckplus"}, paths)  # memoised: one decode per process
    fer_index = {SHARED[f]: FER2013_CLASSES.index(f) for f in SHARED}
    names = np.asarray(ck.class_names)[ck.labels]
    keep = np.isin(names, list(fer_index))
    return preprocess_raw(ck.images[keep], list(steps), input_kind), np.asarray([fer_index[n] for n in names[keep]])


def shared_accuracy(y_true: np.ndarray, proba: np.ndarray) -> tuple[float, int]:
    """Accuracy on the images of the shared classes, predicting the most probable shared class."""
    cols = [FER2013_CLASSES.index(f) for f in SHARED]
    y_true = np.asarray(y_true)
    mask = np.isin(y_true, cols)
    pred = np.asarray(cols)[np.asarray(proba)[mask][:, cols].argmax(1)]
    return (float(np.mean(pred == y_true[mask])) if mask.any() else float("nan")), int(mask.sum())


def evaluate(predict_proba, steps: tuple[str, ...], input_kind: str, y_fer_test: np.ndarray,
             proba_fer_test: np.ndarray, paths: DataPaths) -> dict:
    """``predict_proba(x) -> probabilities`` on CK+48 against the same rule on the FER2013 test set."""
    x, y = ckplus_inputs(steps, input_kind, paths)
    ck_acc, n_ck = shared_accuracy(y, predict_proba(x))
    fer_acc, n_fer = shared_accuracy(y_fer_test, proba_fer_test)
    return {"dataset": "CK+48", "classes": list(SHARED), "ckplus_accuracy": ck_acc, "ckplus_images": n_ck,
            "fer2013_accuracy": fer_acc, "fer2013_images": n_fer, "drop": fer_acc - ck_acc}
