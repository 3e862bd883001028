"""Every builder builds, matches the printed summaries where a paper prints one, and trains a step."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from fer_lib import models
from fer_lib.preprocess import augmentation_layers
from fer_lib.train import predict

# Özer & Subaşı, Figures 2 and 4: (layer name, output shape, parameters) as printed.
OZER_CNN = [("rescaling", (None, 48, 48, 3), 0), ("conv2d", (None, 48, 48, 16), 448),
            ("max_pooling2d", (None, 24, 24, 16), 0), ("conv2d_1", (None, 24, 24, 32), 4640),
            ("max_pooling2d_1", (None, 12, 12, 32), 0), ("conv2d_2", (None, 12, 12, 64), 18496),
            ("max_pooling2d_2", (None, 6, 6, 64), 0), ("flatten", (None, 2304), 0),
            ("dense", (None, 128), 295040), ("dense_1", (None, 7), 903)]
OZER_CNN_LSTM = [("conv2d", (None, 46, 46, 32), 320), ("max_pooling2d", (None, 23, 23, 32), 0),
                 ("conv2d_1", (None, 21, 21, 64), 18496), ("max_pooling2d_1", (None, 10, 10, 64), 0),
                 ("conv2d_2", (None, 8, 8, 128), 73856), ("max_pooling2d_2", (None, 4, 4, 128), 0),
                 ("flatten", (None, 2048), 0), ("reshape", (None, 16, 128), 0), ("lstm", (None, 128), 131584),
                 ("dense", (None, 64), 8256), ("dense_1", (None, 7), 455)]


def _rows(model):
    return [(l.name, tuple(l.output.shape), l.count_params()) for l in model.layers
            if type(l).__name__ != "InputLayer"]


def test_ozer_cnn_matches_figure_2():
    m = models.create_model("ozer_cnn")
    assert m.count_params() == 319_527
    assert _rows(m) == OZER_CNN


def test_ozer_cnn_lstm_matches_figure_4():
    m = models.create_model("ozer_cnn_lstm")
    assert m.count_params() == 232_967
    assert _rows(m) == OZER_CNN_LSTM


SHAPES = {"emotionnet_cnn3d": (1, 48, 48, 1)}


@pytest.mark.parametrize("name", models.list_models())
def test_builds_and_trains_one_step(name):
    shape = SHAPES.get(name, (48, 48, 3) if name == "ozer_cnn" else (48, 48, 1))
    m = models.create_model(name, input_shape=shape, classes=7, augmentation=augmentation_layers("emotionnet")
                            if name != "ozer_cnn" else ())
    rng = np.random.default_rng(0)
    x = rng.random((8, *shape), dtype=np.float32)
    y = rng.integers(0, 7, 8)
    m.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.copy() for w in m.get_weights()]
    hist = m.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, m.get_weights()))
    assert getattr(m.layers[-1], "activation", None) is keras.activations.linear  # logits out
    p, _ = predict(m, x)
    assert p.shape == (8, 7) and np.allclose(p.sum(1), 1, atol=1e-6) and (p >= 0).all()


@pytest.mark.parametrize("name", ["emotionnet_cnn_lstm", "emotionnet_cnn_gru", "emotionnet_cnn", "emotionnet_cnn3d"])
def test_emotionnet_sequence_models_read_clips(name):
    m = models.create_model(name, input_shape=(3, 48, 48, 1), classes=7)
    assert m.output_shape == (None, 7)


def test_registry_errors_list_known_names():
    with pytest.raises(ValueError, match="known models: .*ozer_cnn"):
        models.create_model("resnet9000")
    with pytest.raises(ValueError, match="has no parameter"):
        models.create_model("ozer_cnn", filters=3)
    with pytest.raises(ValueError, match="Received: classes=1"):
        models.create_model("xu_cnn", classes=1)
    assert "ozer_cnn" in models.list_models("ozer_*")


def test_lamichhane_bilstm_fully_connected_head_of_section_5():
    from fer_lib.models import create_model

    plain = create_model("lamichhane_cnn_bilstm")
    fc = create_model("lamichhane_cnn_bilstm", dense_units=256)
    assert "fc1" in [l.name for l in fc.layers] and "fc1" not in [l.name for l in plain.layers]
    # BiLSTM (2 x 128 = 256 features) -> Dense 256 adds 256 * 256 + 256 weights before the same output layer
    assert fc.count_params() - plain.count_params() == 256 * 256 + 256


@pytest.mark.parametrize("shape,prefix", [((48, 48, 1), ""), ((3, 48, 48, 1), "td_")])
def test_emotionnet_conv_layers_are_addressable_by_name(shape, prefix):
    """Grad-CAM reads the last conv block by name: no nested trunk model hides it."""
    m = models.create_model("emotionnet_cnn_lstm", input_shape=shape, classes=7)
    assert m.get_layer(f"{prefix}block5_conv") is not None
    assert not any(isinstance(getattr(layer, "layer", layer), keras.Model) for layer in m.layers)


def test_a_second_builder_of_the_same_name_is_refused():
    def ozer_cnn():  # same name as the registered builder, another function
        raise AssertionError("never built")

    with pytest.raises(ValueError, match="already registered"):
        models.register_model(ozer_cnn)
    assert models.register_model(models.ozer_cnn) is models.ozer_cnn  # re-registering itself is harmless
