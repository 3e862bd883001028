"""Grad-CAM and the inputs it is drawn on: a known answer on a tiny model, the run's own test inputs."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from fer_lib import explain
from fer_lib.config import DataPaths
from fer_lib.experiment_data import prepare
from fer_lib.experiments import experiments_for


def _identity_conv_model() -> keras.Model:
    """conv (1x1, weight 1) -> mean -> logits (+1, -1): class 0's evidence is the image itself."""
    inp = keras.Input((8, 8, 1))
    fmap = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones", name="probe_conv")(inp)
    pooled = keras.layers.GlobalAveragePooling2D()(fmap)
    out = keras.layers.Dense(2, use_bias=False, name="logits")(pooled)
    model = keras.Model(inp, out)
    model.get_layer("logits").set_weights([np.array([[1.0, -1.0]], dtype=np.float32)])
    return model


def test_grad_cam_finds_the_evidence_and_none_against_it():
    x = np.zeros((1, 8, 8, 1), np.float32)
    x[0, :3, :3] = 1.0  # the bright corner is all that raises class 0
    model = _identity_conv_model()
    assert explain.last_conv_layer(model) == "probe_conv"
    cam0 = explain.grad_cam(model, x, np.array([0]))[0]
    assert cam0.shape == (8, 8) and cam0.max() == pytest.approx(1.0)
    assert cam0[:2, :2].min() > 0.9 and cam0[5:, 5:].max() == 0.0
    assert explain.grad_cam(model, x, np.array([1]))[0].max() == 0.0  # that corner only lowers class 1
    assert explain.overlay(x[0], cam0).shape == (8, 8, 3)


def test_test_inputs_are_the_runners_and_a_changed_split_is_refused(fer_root, ck_root, tmp_cache):
    paths = DataPaths.resolve(fer_root, ck_root, env={})
    fold = prepare(experiments_for("xu", ["cnn"])[0], "smoke", 0, paths)[0]
    run = {"experiment": "xu/cnn", "paper": "xu", "name": "cnn", "profile": "smoke", "seed": 0,
           "test": {"ids": [str(i) for i in fold.test_ids]}}
    assert np.array_equal(explain.test_inputs(run, paths), fold.x_test)
    run["test"]["ids"] = run["test"]["ids"][::-1]
    with pytest.raises(ValueError, match="differ from the recorded ones"):
        explain.test_inputs(run, paths)


def test_weights_beside_the_result_else_the_shipped_copy_of_that_run(tmp_path):
    run = {"profile": "quick", "paper": "xu", "name": "cnn", "experiment": "xu/cnn", "seed": 0,
           "config": {"model": "xu_cnn"}}
    shipped = tmp_path / "weights"
    shipped.mkdir()
    (shipped / "xu_cnn.json").write_text(json.dumps({"experiment": "xu/cnn", "profile": "quick", "seed": 0}))
    assert explain.weights_for(run, tmp_path / "results", shipped) == shipped / "xu_cnn.weights.h5"
    assert explain.weights_for({**run, "seed": 1}, tmp_path / "results", shipped) is None  # another run
    beside = tmp_path / "results" / "quick" / "xu" / "cnn" / "seed0.weights.h5"
    beside.parent.mkdir(parents=True)
    beside.write_bytes(b"")
    assert explain.weights_for(run, tmp_path / "results", shipped) == beside
