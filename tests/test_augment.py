"""The fused augmentation layer: the presets' parameter ranges, the geometry of its one warp, and
output statistics that match the stack of Keras layers it replaced (on real FER2013 images)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fer_lib import preprocess
from fer_lib.augment import FusedAugmentation
from fer_lib.config import FER2013_CLASSES
from fer_lib.data import decode_image


def _params(layer, n=20_000) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in layer.sample(n).items()}


@pytest.mark.parametrize("preset", sorted(preprocess.AUGMENTATION_PRESETS))
def test_sampled_parameters_follow_the_preset_ranges(preset):
    spec = preprocess.AUGMENTATION_PRESETS[preset]
    p = _params(preprocess.augmentation_layers(preset, seed=3)[0])

    def uniform(v, lo, hi):  # inside the range, and spread like a uniform draw over it
        assert v.min() >= lo - 1e-6 and v.max() <= hi + 1e-6
        assert abs(v.mean() - (lo + hi) / 2) < 0.02 * (hi - lo)
        assert abs(v.std() / ((hi - lo) / math.sqrt(12)) - 1) < 0.03

    assert abs((p["flip"] < 0).mean() - 0.5) < 0.02 if spec.get("flip") else (p["flip"] == 1).all()
    r = math.radians(spec.get("rotation_deg", 0))
    uniform(p["angle"], -r, r) if r else None
    for key in ("shift_x", "shift_y"):
        uniform(p[key], -spec["shift"], spec["shift"]) if spec.get("shift") else None
    uniform(p["zoom"], 1 - spec["zoom"], 1 + spec["zoom"]) if spec.get("zoom") else None
    for key in ("shear_x", "shear_y"):
        uniform(p[key], -spec["shear"], spec["shear"]) if spec.get("shear") else None
    uniform(p["brightness"], -spec["brightness"], spec["brightness"]) if spec.get("brightness") else None
    uniform(p["contrast"], 1 - spec["contrast"], 1 + spec["contrast"]) if spec.get("contrast") else None


def test_one_warp_flips_rotates_and_shifts_as_its_matrix_says():
    from keras import ops

    one, zero = np.ones(1, "float32"), np.zeros(1, "float32")
    base = {"flip": one, "angle": zero, "shift_x": zero, "shift_y": zero, "zoom": one, "shear_x": zero,
            "shear_y": zero}
    img = np.zeros((1, 48, 48, 1), "float32")
    img[0, 10, 30, 0] = 1.0  # row 10, column 30

    def where(**change):
        m = FusedAugmentation.sampling_matrix({**base, **change}, 48, 48)
        out = np.asarray(ops.image.affine_transform(img, m, interpolation="bilinear", fill_mode="constant"))
        return tuple(int(i) for i in np.unravel_index(out[0, ..., 0].argmax(), (48, 48)))

    assert where() == (10, 30)
    assert where(flip=-one) == (10, 17)  # mirrored about the centre column 23.5
    assert where(angle=np.array([math.pi / 2], "float32")) == (17, 10)  # a quarter turn about the centre
    assert where(shift_x=np.array([-5 / 48], "float32")) == (10, 35)  # reads 5 px to the left: moves right


def test_identity_at_inference_and_seeded(fer_root):
    x = _fer_images(fer_root, 4)
    layer = preprocess.augmentation_layers("emotionnet", seed=5)[0]
    assert np.array_equal(np.asarray(layer(x, training=False)), x)
    a = np.asarray(preprocess.augmentation_layers("emotionnet", seed=5)[0](x, training=True))
    b = np.asarray(preprocess.augmentation_layers("emotionnet", seed=5)[0](x, training=True))
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(a, x)


def _fer_images(fer_root, per_class: int) -> np.ndarray:
    xs = [decode_image(f) for name in FER2013_CLASSES for f in sorted((fer_root / "train" / name).iterdir())[:per_class]]
    return (np.stack(xs)[..., None] / 255.0).astype("float32")


def _keras_stack(spec: dict, seed: int):
    """The separate Keras layers the presets were built from before (the reference)."""
    import keras
    from keras import layers

    out = []
    if spec.get("flip"):
        out.append(layers.RandomFlip("horizontal", seed=seed))
    if spec.get("rotation_deg"):
        out.append(layers.RandomRotation(spec["rotation_deg"] / 360.0, fill_mode="nearest", seed=seed + 1))
    if spec.get("shift"):
        out.append(layers.RandomTranslation(spec["shift"], spec["shift"], fill_mode="nearest", seed=seed + 2))
    if spec.get("zoom"):
        out.append(layers.RandomZoom(spec["zoom"], fill_mode="nearest", seed=seed + 3))
    if spec.get("shear"):
        out.append(layers.RandomShear(x_factor=spec["shear"], y_factor=spec["shear"], fill_mode="nearest",
                                      seed=seed + 4))
    if spec.get("brightness"):
        out.append(layers.RandomBrightness(spec["brightness"], value_range=(0.0, 1.0), seed=seed + 5))
    if spec.get("contrast"):
        # (c, c): Keras reads a single float c as [1, 1 + c] (lower bound clamped at 0), not ±c
        out.append(layers.RandomContrast((spec["contrast"], spec["contrast"]), value_range=(0.0, 1.0),
                                         seed=seed + 6))
    if spec.get("noise"):
        out.append(layers.GaussianNoise(spec["noise"], seed=seed + 7))
    return keras.Sequential(out)


@pytest.mark.parametrize("preset", sorted(preprocess.AUGMENTATION_PRESETS))
def test_output_statistics_match_the_keras_layers(fer_root, preset):
    """Per-image brightness, contrast and change against the input: same distribution as the
    Keras stack with the preset's parameters (real images, 4 draws each)."""
    x = np.concatenate([_fer_images(fer_root, 40)] * 4)  # 1,120 augmented images
    spec = preprocess.AUGMENTATION_PRESETS[preset]
    ours = np.asarray(preprocess.augmentation_layers(preset, seed=11)[0](x, training=True))
    ref = np.asarray(_keras_stack(spec, seed=11)(x, training=True))

    def stats(y):
        return {"mean": y.mean(axis=(1, 2, 3)), "std": y.std(axis=(1, 2, 3)),
                "change": np.abs(y - x).mean(axis=(1, 2, 3))}

    s_ours, s_ref = stats(ours), stats(ref)
    for key in s_ours:
        a, b = s_ours[key], s_ref[key]
        assert abs(a.mean() - b.mean()) < 0.1 * b.std() + 0.005, (key, a.mean(), b.mean())
        assert 0.85 < a.std() / b.std() < 1.15, (key, a.std(), b.std())
