"""The device-resident training path (JAX backend): data on the accelerator, one compiled epoch.

Why: Keras ``fit`` from NumPy arrays copies every batch from the host and dispatches one
compiled step per batch; for the papers' small models (0.2-2 M parameters, 48 x 48 inputs) a
GPU then waits on Python most of the time. Here

* the training and validation arrays are put on the device once per run, and each epoch's
  shuffled batches are gathered there from a permutation drawn on the device;
* an epoch's full batches run as one ``lax.scan`` on an accelerator (one dispatch), or a few
  unrolled steps per call on the CPU (``steps_per_dispatch``), and the batches are those ``fit`` forms (same batch size, every image once per epoch, the last batch
  smaller);
* the model is called through Keras' stateless API, so its own layers (augmentation with its
  seeded generator, dropout, batch normalisation) behave as in ``fit``;
* validation and prediction run in large fixed-size chunks of one compiled function;
* compiled programs are kept on disk (JAX's persistent cache, in ``$FER_CACHE_DIR/jax``): every
  seed and ablation of a model compiles the same programs, so a GPU call compiles each model once,
  not once per run.

The Keras callbacks of :func:`fer_lib.train.fit` (epoch log, checkpoint of the best validation
loss, early stopping, learning-rate schedule, resume state, backup) are called at the same
points as ``fit`` calls them, with the model's variables synchronised first, so selection,
stopping and resume are those of the ``fit`` path.
"""
from __future__ import annotations

import numpy as np


def _require_jax():
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(f"fer_lib.device_train needs KERAS_BACKEND=jax (backend is {keras.backend.backend()!r})")
    import jax

    if jax.config.jax_compilation_cache_dir is None:  # $JAX_COMPILATION_CACHE_DIR, where set, wins
        from fer_lib.cache import cache_dir

        jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "jax"))
    return jax


def _per_sample_ce(logits, y, label_smoothing: float = 0.0):
    import jax

    logp = jax.nn.log_softmax(logits.astype("float32"), axis=-1)
    nll = -logp[jax.numpy.arange(y.shape[0]), y]
    if not label_smoothing:
        return nll
    return (1.0 - label_smoothing) * nll - label_smoothing * logp.mean(axis=-1)  # as train.make_loss


def _state(model):
    return ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
            [v.value for v in model.optimizer.variables])


def _sync(model, state) -> None:
    """Write the compiled loop's state back into the Keras variables (for callbacks and saving)."""
    for group, values in zip((model.trainable_variables, model.non_trainable_variables, model.optimizer.variables),
                             state):
        for ref, v in zip(group, values):
            ref.assign(v)


def _train_functions(model, class_weights, scan: bool, label_smoothing: float = 0.0):
    """Jitted functions for ``model``: several steps per call (a ``lax.scan`` or unrolled), one step."""
    jax = _require_jax()
    jnp = jax.numpy
    opt = model.optimizer

    def loss_fn(tv, ntv, x, y):
        logits, ntv = model.stateless_call(tv, ntv, x, training=True)
        ce = _per_sample_ce(logits, y, label_smoothing)
        w = class_weights[y] if class_weights is not None else jnp.ones_like(ce)
        loss = jnp.sum(w * ce) / y.shape[0]  # Keras' sum_over_batch_size reduction with sample weights
        correct = jnp.sum(jnp.argmax(logits, axis=-1) == y)
        return loss, (ntv, correct)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(state, x_all, y_all, idx):
        tv, ntv, ov = state
        x, y = x_all[idx], y_all[idx]
        (loss, (ntv, correct)), grads = grad_fn(tv, ntv, x, y)
        tv, ov = opt.stateless_apply(ov, grads, tv)
        return (tv, ntv, ov), (loss * idx.shape[0], correct)

    def unrolled(state, x_all, y_all, batches):
        loss_sum, correct = jnp.zeros(()), jnp.zeros((), "int32")
        for k in range(batches.shape[0]):
            state, (l, c) = step(state, x_all, y_all, batches[k])
            loss_sum, correct = loss_sum + l, correct + c
        return state, (loss_sum, correct)

    def scanned(state, x_all, y_all, batches):
        state, (losses, correct) = jax.lax.scan(lambda carry, idx: step(carry, x_all, y_all, idx), state, batches)
        return state, (jnp.sum(losses), jnp.sum(correct))

    return jax.jit(scanned if scan else unrolled), jax.jit(step)


def default_steps_per_dispatch() -> int:
    """Optimiser steps per compiled call; 0 means all full batches of an epoch in one ``lax.scan``.

    On an accelerator: the whole epoch (compiled once, whatever its length). On XLA:CPU a
    ``lax.scan`` of training steps ran about 15x slower than the same steps called one by one,
    so there 4 steps are unrolled per call (compile time grows with the unrolled steps)."""
    jax = _require_jax()
    return 4 if jax.default_backend() == "cpu" else 0


def _infer_function(model):
    """One jitted inference function per model (cached on it), logits from the model's current
    variables passed in, so weights loaded later are used without recompiling."""
    jax = _require_jax()
    fn = getattr(model, "_fer_infer", None)
    if fn is None:
        @jax.jit
        def fn(tv, ntv, x):
            return model.stateless_call(tv, ntv, x, training=False)[0]

        model._fer_infer = fn
    return fn


def _chunked_logits(model, x, batch_size: int, tv=None, ntv=None):
    """Logits of ``x`` (host or device array) in fixed-size chunks; the last chunk is padded so
    one compilation serves every call."""
    jax = _require_jax()
    jnp = jax.numpy
    fn = _infer_function(model)
    tv = tv if tv is not None else [v.value for v in model.trainable_variables]
    ntv = ntv if ntv is not None else [v.value for v in model.non_trainable_variables]
    n = int(x.shape[0])
    bs = max(1, min(batch_size, n))
    out = []
    for start in range(0, n, bs):
        chunk = x[start:start + bs]
        k = int(chunk.shape[0])
        if k < bs:
            chunk = jnp.concatenate([jnp.asarray(chunk), jnp.zeros((bs - k, *chunk.shape[1:]), chunk.dtype)])
        out.append(fn(tv, ntv, chunk)[:k])
    return jnp.concatenate(out) if out else jnp.zeros((0, model.output_shape[-1]))


def predict_logits(model, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Logits of ``x`` on the device, ``batch_size`` images per compiled call."""
    return np.asarray(_chunked_logits(model, x, batch_size))


def device_fit(model, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *,
               epochs: int, batch_size: int, callbacks: list, class_weight: dict | None = None,
               verbose: int = 0, eval_batch_size: int = 4096, steps_per_dispatch: int | None = None,
               label_smoothing: float = 0.0) -> None:
    """Train a compiled ``model`` like ``model.fit(..., shuffle=True, validation_data=...)`` with
    ``callbacks``, the data kept on the device. The model's variables hold the last epoch's state
    afterwards (the caller restores the best checkpoint)."""
    import keras

    jax = _require_jax()
    jnp = jax.numpy
    n = len(y_train)
    full, rest = divmod(n, batch_size)
    steps = full + (1 if rest else 0)
    cbs = keras.callbacks.CallbackList(callbacks, model=model, add_history=False, add_progbar=False,
                                       verbose=verbose, epochs=epochs, steps=steps)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    x_dev, y_dev = jax.device_put(np.asarray(x_train)), jax.device_put(np.asarray(y_train, np.int32))
    xv_dev, yv_dev = jax.device_put(np.asarray(x_val)), jax.device_put(np.asarray(y_val, np.int32))
    weights = None
    if class_weight:
        weights = jnp.asarray([class_weight.get(i, 1.0) for i in range(model.output_shape[-1])], "float32")
    k = default_steps_per_dispatch() if steps_per_dispatch is None else int(steps_per_dispatch)
    k = k if k > 0 else max(full, 1)  # 0: the epoch's full batches in one scan
    train_steps, train_step = _train_functions(model, weights, scan=k == full, label_smoothing=label_smoothing)
    # the shuffling stream: drawn from NumPy's generator, which set_determinism seeded, and folded
    # with the epoch, so a resumed run sees the same order an uninterrupted one would
    shuffle_key = jax.random.key(int(np.random.randint(0, 2**31 - 1)))

    model.stop_training = False
    model._initial_epoch = None
    cbs.on_train_begin()  # BackupAndRestore may load weights and set the first epoch here
    first = model._initial_epoch or 0
    state = _state(model)
    for epoch in range(first, epochs):
        cbs.on_epoch_begin(epoch)
        perm = jax.random.permutation(jax.random.fold_in(shuffle_key, epoch), n)
        batches = perm[:full * batch_size].reshape(full, batch_size)
        loss_sum, correct = jnp.zeros(()), jnp.zeros((), "int32")
        for start in range(0, full - full % k, k):
            state, (l, c) = train_steps(state, x_dev, y_dev, batches[start:start + k])
            loss_sum, correct = loss_sum + l, correct + c
        tails = [batches[i] for i in range(full - full % k, full)] + ([perm[full * batch_size:]] if rest else [])
        for idx in tails:  # the steps left over, and fit's smaller last batch
            state, (l, c) = train_step(state, x_dev, y_dev, idx)
            loss_sum, correct = loss_sum + l, correct + c
        logits = _chunked_logits(model, xv_dev, eval_batch_size, tv=state[0], ntv=state[1])
        logs = {"loss": float(loss_sum) / n, "accuracy": float(correct) / n,
                "val_loss": float(jnp.mean(_per_sample_ce(logits, yv_dev, label_smoothing))),
                "val_accuracy": float(jnp.mean(jnp.argmax(logits, axis=-1) == yv_dev))}
        _sync(model, state)
        cbs.on_epoch_end(epoch, logs)
        state = _state(model)  # a callback may have changed the learning rate
        if model.stop_training:
            break
    cbs.on_train_end()
