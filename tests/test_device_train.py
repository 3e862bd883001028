"""What only the device path has: the same batches as ``fit``, large-batch inference, and the
choice of trainer. Runs under JAX (tests/test_jax_backend.py starts it); skipped on other backends."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from fer_lib.models import create_model
from fer_lib.train import TrainConfig, fit, predict, resolve_trainer, set_determinism

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax", reason="the device path needs KERAS_BACKEND=jax")


def _data(n=150, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 48, 48, 1), dtype=np.float32), rng.integers(0, 7, n)


def test_auto_takes_the_device_path_on_jax(tmp_path):
    x, y = _data()
    assert resolve_trainer("auto") == "device"
    set_determinism(0)
    out = fit(create_model("xu_rnn_lstm", units=8), x, y, x[:40], y[:40], TrainConfig(epochs=1, batch_size=32),
              tmp_path, verbose=0)
    assert out["trainer"] == "device" and out["epochs_run"] == 1


class _CountSteps(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.iterations = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))


@pytest.mark.parametrize("steps_per_dispatch", [None, 0, 3])
def test_device_path_takes_fits_steps_and_is_reproducible(tmp_path, steps_per_dispatch):
    """150 images in batches of 32: 4 full batches and one of 22 per epoch, as fit forms them,
    whether the steps run one by one, unrolled or as one scan; the same seed gives the same run."""
    from fer_lib import device_train

    x, y = _data()
    runs = []
    for k in range(2):
        set_determinism(0)
        model = create_model("xu_rnn_lstm", units=8)
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        count = _CountSteps()
        device_train.device_fit(model, x, y, x[:40], y[:40], epochs=2, batch_size=32, callbacks=[count],
                                steps_per_dispatch=steps_per_dispatch)
        assert count.iterations == 2 * 5
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_predict_matches_the_model_call_in_large_chunks():
    x, _ = _data(n=70)
    model = create_model("xu_rnn_lstm", units=8)
    proba, ips = predict(model, x, batch_size=32)  # 3 chunks, the last one padded
    ref = keras.ops.convert_to_numpy(keras.ops.softmax(model(x, training=False)))
    np.testing.assert_allclose(proba, ref, atol=1e-5)
    assert proba.shape == (70, 7) and ips > 0


def test_device_trainer_refused_elsewhere(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    with pytest.raises(ValueError, match="needs the JAX backend"):
        resolve_trainer("device")
    with pytest.raises(ValueError, match="unknown trainer"):
        resolve_trainer("fast")


def test_device_path_uses_the_same_smoothed_loss_as_fit():
    from fer_lib import device_train
    from fer_lib.train import make_loss

    logits = np.random.default_rng(1).normal(size=(6, 7)).astype("float32")
    y = np.arange(6) % 7
    ours = float(np.mean(np.asarray(device_train._per_sample_ce(keras.ops.convert_to_tensor(logits), y, 0.1))))
    assert ours == pytest.approx(float(keras.ops.convert_to_numpy(make_loss(0.1)(y, logits))), rel=1e-5)


def test_a_second_run_of_a_model_is_served_its_compiled_programs_from_disk(tmp_path):
    """Seeds and ablations of one model compile the same programs: JAX's persistent cache, which the
    device path turns on, serves a new model of that architecture (other seed, other layer names)
    from disk instead of compiling again."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    from fer_lib import device_train

    device_train._require_jax()
    assert jax.config.jax_compilation_cache_dir  # the device path turned the cache on
    before = jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs
    cache = tmp_path / "jax"
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)  # these tiny programs compile fast
    compilation_cache.reset_cache()
    try:
        x, y = _data()
        entries = []
        for seed in (0, 1):
            set_determinism(seed)
            model = create_model("xu_rnn_lstm", units=8)
            model.compile(optimizer=keras.optimizers.Adam(1e-3),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            device_train.device_fit(model, x, y, x[:40], y[:40], epochs=1, batch_size=32, callbacks=[])
            entries.append(sorted(p.name for p in cache.iterdir()))
        assert entries[0] and entries[1] == entries[0]
    finally:
        jax.config.update("jax_compilation_cache_dir", before[0])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", before[1])
        compilation_cache.reset_cache()
