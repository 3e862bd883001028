"""Normalisation, CLAHE and augmentation layers."""
from __future__ import annotations

import numpy as np
import pytest

from fer_lib import preprocess
from fer_lib.data import load_ckplus


def test_normalise_and_rgb():
    x = np.array([[[0, 255]]], np.uint8).repeat(48, 1).repeat(24, 2)[:, :48, :48]
    n = preprocess.normalise(x)
    assert n.dtype == np.float32 and n.shape == (1, 48, 48, 1) and n.min() == 0 and n.max() == 1
    assert preprocess.to_rgb(x).shape == (1, 48, 48, 3)


def test_clahe_raises_local_contrast_on_real_faces(ck_root):
    imgs = load_ckplus(ck_root).images[:20]
    out = preprocess.clahe(imgs)
    assert out.shape == imgs.shape and out.dtype == np.uint8
    assert out.std(axis=(1, 2)).mean() > imgs.std(axis=(1, 2)).mean()
    with pytest.raises(ValueError, match="uint8"):
        preprocess.clahe(imgs.astype(np.float32))


def test_augmentation_is_random_in_training_and_identity_at_inference():
    import keras

    layers = preprocess.augmentation_layers("wasey", seed=1)
    assert [l.name for l in layers] == ["augmentation"]  # one fused layer: one warp per image
    assert {k: getattr(layers[0], k) for k in preprocess.AUGMENTATION_PRESETS["wasey"]} == \
        preprocess.AUGMENTATION_PRESETS["wasey"]
    model = keras.Sequential([keras.Input((48, 48, 1)), *layers])
    x = np.random.default_rng(0).random((4, 48, 48, 1)).astype(np.float32)
    assert np.allclose(model(x, training=False), x)
    assert not np.allclose(model(x, training=True), x)


def test_unknown_augmentation_parameter():
    with pytest.raises(ValueError, match=r"unknown augmentation parameter\(s\) \['twist'\]"):
        preprocess.augmentation_layers({"twist": 1})
    with pytest.raises(ValueError, match="unknown augmentation preset"):
        preprocess.augmentation_layers("heavy")


def test_gaussian_noise_is_seeded_and_clipped():
    x = np.full((2, 48, 48, 1), 0.5, np.float32)
    a, b = preprocess.add_gaussian_noise(x, 0.3, seed=1), preprocess.add_gaussian_noise(x, 0.3, seed=1)
    assert np.array_equal(a, b) and a.min() >= 0 and a.max() <= 1 and not np.allclose(a, x)
