"""Training correctness: logits survive a saturated head, resume keeps the best epoch, seeding is recorded."""
from __future__ import annotations

import numpy as np
import pytest

from fer_lib.config import FER2013_CLASSES
from fer_lib.data import decode_image
from fer_lib.models import create_model
from fer_lib.train import TrainConfig, fit, predict, read_history, set_determinism

MARGIN = 30.0  # logit lead of class 0: e^-30 ~ 1e-13, far below Keras' probability clip of 1e-7


def _fer_slice(fer_root, per_class: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` FER2013 training images of each class, pixels in [0, 1]."""
    xs, ys = [], []
    for label, name in enumerate(FER2013_CLASSES):
        for f in sorted((fer_root / "train" / name).iterdir())[:per_class]:
            xs.append(decode_image(f))
            ys.append(label)
    return (np.stack(xs)[..., None] / 255.0).astype("float32"), np.asarray(ys)


def _saturated_model():
    """A small model whose head puts every image in class 0 with probability 1 - 1e-13."""
    set_determinism(0)
    model = create_model("xu_rnn_lstm", units=16)
    kernel, bias = model.get_layer("predictions").get_weights()
    bias[0] += MARGIN
    model.get_layer("predictions").set_weights([kernel, bias])
    return model


def _cross_entropy(y, proba) -> float:
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-300, None))))


def test_saturated_head_recovers_when_training_on_logits(fer_root, tmp_path):
    x, y = _fer_slice(fer_root)
    model = _saturated_model()
    before, _ = predict(model, x)
    assert (np.delete(before, 0, axis=1) < 1e-7).all()  # saturated: every other class below the clip
    loss_before = _cross_entropy(y, before)
    fit(model, x, y, x, y, TrainConfig(epochs=5, batch_size=14, learning_rate=1e-2), tmp_path, verbose=0)
    after, _ = predict(model, x)
    assert loss_before > 20 and _cross_entropy(y, after) < loss_before / 4  # ~26 nats -> a few (chance: 1.95)
    assert after[:, 0].max() < 0.5  # class 0 no longer takes every image


def test_saturated_head_is_stuck_with_clipped_probabilities(fer_root):
    """The control: the old setup (softmax output, loss on clipped probabilities, as Keras' JAX and
    torch backends compute ``from_logits=False``) has exactly zero gradient here, so nothing moves.
    On TensorFlow Keras silently recovers the logits of a softmax layer, which hid the bug."""
    import keras
    from keras import ops

    x, y = _fer_slice(fer_root)
    base = _saturated_model()
    probs = keras.Model(base.input, keras.layers.Softmax()(base.output))
    eps = keras.config.epsilon()

    def clipped_cross_entropy(target, output):
        output = ops.clip(output / ops.sum(output, axis=-1, keepdims=True), eps, 1.0 - eps)
        return -ops.sum(ops.one_hot(ops.cast(ops.reshape(target, (-1,)), "int32"), 7) * ops.log(output), axis=-1)

    probs.compile(optimizer=keras.optimizers.Adam(1e-2), loss=clipped_cross_entropy)
    before = [w.copy() for w in probs.get_weights()]
    hist = probs.fit(x, y, epochs=5, batch_size=14, shuffle=True, verbose=0).history["loss"]
    assert np.allclose(hist, hist[0]) and hist[0] > 10  # the collapse: the same clipped loss at every epoch
    assert all(np.array_equal(a, b) for a, b in zip(before, probs.get_weights()))


def test_fit_refuses_a_softmax_output(tmp_path):
    import keras

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(inp))
    x, y = np.zeros((4, 4), "float32"), np.zeros(4, int)
    with pytest.raises(ValueError, match="ends in a softmax; fit trains on logits"):
        fit(model, x, y, x, y, TrainConfig(epochs=1), tmp_path, verbose=0)


def test_resume_keeps_the_best_epoch_and_the_patience_count(tmp_path):
    """Killed after the best epoch, the resumed run neither overwrites the best weights with a worse
    epoch nor restarts early stopping's patience: it stops where an uninterrupted run stops."""
    import keras

    rng = np.random.default_rng(0)
    x, y = rng.random((64, 48, 48, 1), dtype=np.float32), rng.integers(0, 7, 64)
    x_val, y_val = x[:32], (y[:32] + 1) % 7  # the better it fits the training labels, the worse val_loss
    cfg = TrainConfig(epochs=8, batch_size=16, learning_rate=1e-2, early_stopping_patience=3, reduce_lr_patience=2)

    class Snapshots(keras.callbacks.Callback):
        """The weights at the end of every epoch (1-based), across both fit calls."""

        def __init__(self):
            super().__init__()
            self.weights = {}

        def on_epoch_end(self, epoch, logs=None):
            self.weights[epoch + 1] = [w.copy() for w in self.model.get_weights()]

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    set_determinism(0)
    whole = fit(create_model("xu_rnn_lstm", units=8), x, y, x_val, y_val, cfg, tmp_path / "whole", verbose=0)

    snaps = Snapshots()
    set_determinism(0)
    with pytest.raises(KeyboardInterrupt):  # killed at the end of epoch 3, after its backup
        fit(create_model("xu_rnn_lstm", units=8), x, y, x_val, y_val, cfg, tmp_path / "run", verbose=0,
            extra_callbacks=(snaps, Kill()))
    killed = read_history(tmp_path / "run" / "epochs.jsonl")
    best_before_kill = killed["epoch"][int(np.argmin(killed["val_loss"]))]
    model = create_model("xu_rnn_lstm", units=8)
    out = fit(model, x, y, x_val, y_val, cfg, tmp_path / "run", verbose=0, extra_callbacks=(snaps,))

    # the setup did what it is meant to: the best epoch came before the kill, later ones are worse
    assert out["best_epoch"] == best_before_kill <= 3 and out["epochs_run"] > 3
    for a, b in zip(model.get_weights(), snaps.weights[out["best_epoch"]]):
        np.testing.assert_array_equal(a, b)
    assert out["epochs_run"] == whole["epochs_run"] == whole["best_epoch"] + cfg.early_stopping_patience


def test_set_determinism_reports_what_held():
    import keras

    d = set_determinism(3)
    assert d["seed"] == 3 and d["backend"] == keras.backend.backend() and d["seeded"] is True
    if d["backend"] == "tensorflow":
        assert d["deterministic_ops"] is True and "enable_op_determinism" in d["detail"]
    a = np.random.random(3)
    set_determinism(3)
    np.testing.assert_array_equal(a, np.random.random(3))


def test_label_smoothing_loss_is_the_smoothed_cross_entropy():
    import keras

    from fer_lib.train import make_loss

    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], dtype="float32")
    y = np.array([0, 2])
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    eps = 0.1
    target = np.full((2, 3), eps / 3)
    target[np.arange(2), y] += 1 - eps  # Keras' one-hot label smoothing: (1 - eps) on the label + eps / K each
    expected = float(np.mean(-(target * logp).sum(1)))
    got = float(keras.ops.convert_to_numpy(make_loss(eps)(y, logits)))
    assert got == pytest.approx(expected, rel=1e-5)
    plain = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=eps)(np.eye(3)[y], logits)
    assert got == pytest.approx(float(keras.ops.convert_to_numpy(plain)), rel=1e-5)


def test_cosine_schedule_decays_the_learning_rate_over_the_run(fer_root, tmp_path):
    import keras

    x, y = _fer_slice(fer_root, per_class=4)  # 28 images, batch 8: 4 steps an epoch
    set_determinism(0)
    model = create_model("xu_rnn_lstm", units=8)
    cfg = TrainConfig(epochs=2, batch_size=8, learning_rate=0.01, optimizer="sgd_nesterov", schedule="cosine",
                      label_smoothing=0.1)
    fit(model, x, y, x[:8], y[:8], cfg, tmp_path, verbose=0)
    opt = model.optimizer
    assert isinstance(opt.learning_rate_schedule if hasattr(opt, "learning_rate_schedule") else opt._learning_rate,
                      keras.optimizers.schedules.CosineDecay)
    assert int(keras.ops.convert_to_numpy(opt.iterations)) == 8
    assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(0.0, abs=1e-7)  # the end of the decay
    assert opt.nesterov and opt.momentum == 0.9
    with pytest.raises(ValueError, match="keep one"):
        TrainConfig.from_dict({"schedule": "cosine", "reduce_lr_patience": 3})
    with pytest.raises(ValueError, match="unknown schedule"):
        TrainConfig.from_dict({"schedule": "step"})


def test_several_steps_per_call_train_the_same_weights(fer_root, tmp_path):
    """``steps_per_execution`` only groups steps into one call: same batches, same order, same
    weights after two epochs (one call of 4 steps, then the 2 steps left and the smaller last batch)."""
    x, y = _fer_slice(fer_root, per_class=14)  # 98 images: 6 full batches of 16 and one of 2
    cfg = TrainConfig(epochs=2, batch_size=16, learning_rate=1e-2)
    weights = []
    for spe in (1, 4):
        set_determinism(0)
        model = create_model("xu_rnn_lstm", units=8)
        out = fit(model, x, y, x[:32], y[:32], cfg, tmp_path / f"spe{spe}", verbose=0, steps_per_execution=spe)
        assert out["epochs_run"] == 2
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_epoch_repeats_pass_over_the_training_set_that_many_times_per_epoch(fer_root, tmp_path):
    """On either trainer (keras on TensorFlow; the device path when test_jax_backend reruns this)."""
    import keras

    x, y = _fer_slice(fer_root, per_class=2)  # 14 images: 2 batches of 7 per pass
    set_determinism(0)
    model = create_model("xu_rnn_lstm", units=8)
    out = fit(model, x, y, x, y, TrainConfig(epochs=2, batch_size=7, epoch_repeats=3), tmp_path, verbose=0)
    assert out["epochs_run"] == 2
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2 * 3 * 2
    with pytest.raises(ValueError, match="epoch_repeats"):
        TrainConfig.from_dict({"epoch_repeats": 0})


def _tiny_batchnorm_model():
    import keras
    from keras import layers

    inputs = keras.Input((48, 48, 1))
    x = layers.BatchNormalization(name="bn")(layers.Conv2D(2, 3, name="conv")(inputs))
    return keras.Model(inputs, layers.Dense(7)(layers.GlobalAveragePooling2D()(x)), name="tiny_bn")


def test_fit_warns_when_early_stopping_would_judge_unfitted_batchnorm_statistics(fer_root, tmp_path):
    import warnings

    x, y = _fer_slice(fer_root, per_class=2)
    cfg = TrainConfig(epochs=3, batch_size=14, early_stopping_patience=2)  # 1 step an epoch: 0.99^2 left
    with pytest.warns(UserWarning, match="BatchNorm moving statistics still hold 98%"):
        fit(_tiny_batchnorm_model(), x, y, x, y, cfg, tmp_path / "stale", verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no warning when early stopping cannot fire
        fit(_tiny_batchnorm_model(), x, y, x, y, TrainConfig(epochs=2, batch_size=14, early_stopping_patience=2),
            tmp_path / "short", verbose=0)


def test_ck_experiments_train_long_enough_for_their_batchnorm_statistics(ck_root):
    """EmotionNet on CK+: one pass over a training fold (~266 clips) is 5 steps, and patience 10 then
    ends the run while the moving statistics are still mostly initial,
    and early stopping kept the first epoch of every fold; the configured passes per epoch must fix that for every CK+ experiment."""
    from fer_lib import data, splits
    from fer_lib.experiments import experiments_for, train_config
    from fer_lib.models import from_config
    from fer_lib.train import STALE_BATCHNORM, stale_batchnorm

    _, labels, subjects, _ = data.ck_sequences(data.load_ckplus(ck_root), frames=3)
    n_train = max(len(f.train) for f in splits.subject_kfold(subjects, labels, k=10, seed=0, val_fraction=0.1))
    ck = [e for e in experiments_for("emotionnet") if e.spec.get("dataset") == "ckplus"]
    assert len(ck) == 5
    for exp in ck:
        cfg = train_config(exp, "paper")
        model = from_config(exp.spec, 7)
        one_pass = -(-n_train // cfg.batch_size)
        assert stale_batchnorm(model, one_pass, cfg.early_stopping_patience) > STALE_BATCHNORM, exp.id
        assert stale_batchnorm(model, -(-n_train * cfg.epoch_repeats // cfg.batch_size), cfg.early_stopping_patience) < STALE_BATCHNORM, exp.id
        assert train_config(exp, "smoke").epoch_repeats == 1  # CI keeps one pass
