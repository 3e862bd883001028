"""Grad-CAM heat maps: which pixels a trained model's prediction rests on.

Grad-CAM (Selvaraju et al., 2017) weights the feature maps of a convolution layer by the mean
gradient of the class score with respect to them; positive evidence, upsampled to the input, is
the map. The layer is addressed by its stable name (the last 2-D convolution by default: the
builders name their layers, see :mod:`fer_lib.models`). The gradients use TensorFlow's autodiff,
the CPU backend the book is built with.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import keras
import numpy as np

from fer_lib.config import REPO, DataPaths
from fer_lib.experiment_data import prepare
from fer_lib.experiments import experiments_for
from fer_lib.models import from_config
from fer_lib.results import run_file


def last_conv_layer(model: keras.Model) -> str:
    """Name of the model's last 2-D convolution (the usual Grad-CAM layer)."""
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise ValueError(f"model {model.name!r} has no Conv2D layer for Grad-CAM; pass layer= by name")
    return convs[-1]


def grad_cam(model: keras.Model, x: np.ndarray, class_index: np.ndarray | None = None,
             layer: str | None = None) -> np.ndarray:
    """Heat maps (N, H, W) in [0, 1] at the input's size, for ``class_index`` (default: the prediction)."""
    layer = layer or last_conv_layer(model)
    probe = keras.Model(model.inputs, [model.get_layer(layer).output, model.output])
    x = np.asarray(x, dtype=np.float32)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            fmap, logits = probe(xt, training=False)
            cls = tf.argmax(logits, -1) if class_index is None else tf.convert_to_tensor(class_index)
            score = tf.gather(logits, cls, batch_dims=1)
        grads = tape.gradient(score, fmap)
        fmap, grads = fmap.numpy(), grads.numpy()
    else:
        raise NotImplementedError(f"Grad-CAM here uses TensorFlow's autodiff, not {backend!r}; "
                                  "run it with KERAS_BACKEND=tensorflow (the CPU default)")
    weights = grads.mean(axis=(1, 2), keepdims=True)
    cams = np.maximum((weights * fmap).sum(-1), 0.0)
    h, w = x.shape[1:3]
    out = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in cams])
    peak = out.reshape(len(out), -1).max(1)[:, None, None]
    return np.where(peak > 0, out / np.maximum(peak, 1e-12), 0.0).astype(np.float32)


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """RGB uint8: the grey image with the heat map (jet) blended over it."""
    grey = np.asarray(image)
    grey = grey[..., 0] if grey.ndim == 3 else grey
    grey = (grey * 255 if grey.max() <= 1.0 else grey).astype(np.uint8)
    heat = cv2.applyColorMap((np.clip(cam, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    base = np.repeat(grey[..., None], 3, axis=-1)
    return (base * (1 - alpha) + heat * alpha).astype(np.uint8)


def weights_for(run: dict, results_dir: Path, weights_dir: Path | None = None) -> Path | None:
    """The trained weights of ``run``: kept beside its result by the runner, else the shipped copy
    in ``weights/`` when it is exactly this run (same experiment, profile and seed)."""
    beside = run_file(results_dir, run["profile"], run["paper"], run["name"], run["seed"], ".weights.h5")
    if beside.exists():
        return beside
    shipped = Path(weights_dir or REPO / "weights") / f"{run['config']['model']}.json"
    if shipped.exists():
        meta = json.loads(shipped.read_text(encoding="utf-8"))
        if (meta["experiment"], meta["profile"], meta["seed"]) == (run["experiment"], run["profile"], run["seed"]):
            return shipped.with_name(f"{run['config']['model']}.weights.h5")
    return None


def load_run_model(run: dict, weights: Path) -> keras.Model:
    """The run's model, built from its recorded config, with its selected weights."""
    model = from_config(run["config"], len(run["class_names"]))
    model.load_weights(str(weights))
    return model


def test_inputs(run: dict, paths: DataPaths) -> np.ndarray:
    """The run's test inputs exactly as the runner prepared them (the pool's cached alignment table,
    CLAHE, input format), in the order of ``run["test"]["ids"]`` (the first fold's, whose weights
    the runner keeps). Re-preprocessing a few raw images would re-align them under another table."""
    exp = experiments_for(run["paper"], [run["name"]])[0]
    fold = prepare(exp, run["profile"], run["seed"], paths)[0]
    recorded = [str(i) for i in run["test"]["ids"][:len(fold.test_ids)]]
    if [str(i) for i in fold.test_ids] != recorded:
        raise ValueError(f"the test images of {run['experiment']} seed {run['seed']} prepared now differ from the "
                         "recorded ones: the config or the data changed since the run (re-run it to explain it)")
    return fold.x_test


def examples(run: dict, x_test: np.ndarray, picks: dict[str, np.ndarray], model: keras.Model) -> dict:
    """For test positions ``picks`` (e.g. correct / wrong per class) of the run's test inputs
    ``x_test`` (:func:`test_inputs`): the inputs, Grad-CAM maps, true and predicted class names."""
    y = np.asarray(run["test"]["y_true"])
    pred = np.asarray(run["test"]["proba"]).argmax(1)
    names = np.asarray(run["class_names"])
    out = {}
    for key, idx in picks.items():
        idx = np.asarray(idx, dtype=int)
        idx = idx[idx < len(x_test)]  # k-fold runs: the first fold's test images
        if not len(idx):
            continue
        x = x_test[idx]
        cams = grad_cam(model, x, pred[idx])
        out[key] = {"images": x, "cams": cams, "overlays": np.stack([overlay(i, c) for i, c in zip(x, cams)]),
                    "true": names[y[idx]], "pred": names[pred[idx]]}
    return out
