"""What the runner records beyond accuracy, on tiny real slices: noise before and after
preprocessing, per-run leakage for FER2013, CK+ with the paper's split, and the experiments that
issue 9 added (each must run in a smoke-sized profile)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fer_lib import audit, cross_dataset, runner
from fer_lib.config import DataPaths, Profile
from fer_lib.experiment_data import Prepared, load_dataset
from fer_lib.experiments import experiments_for

MINI = Profile("mini", "one epoch on a slice (tests)", (0,), epochs=1, max_train=64, max_val=16, max_test=32,
               max_folds=1)


@pytest.fixture()
def run(tmp_path, tmp_cache, fer_root, ck_root):
    paths = DataPaths.resolve(fer_root, ck_root, env={})

    def go(paper: str, name: str) -> dict:
        job = runner.jobs_for([paper], MINI, [name], results_dir=tmp_path / "results", work_dir=tmp_path / "work")[0]
        return json.loads(runner.run_job(job, paths, verbose=0).read_text())

    go.paths = paths
    return go


def test_noise_is_evaluated_before_and_after_preprocessing(run):
    r = run("emotionnet", "full")
    assert set(r["noise_robustness"]) == set(r["noise_robustness_raw"]) == {"0.05", "0.1", "0.2"}
    assert set(r["noise_stages"]) == {"input", "raw"} and "before alignment" in r["noise_stages"]["raw"]
    for stage in ("noise_robustness", "noise_robustness_raw"):
        assert all(0 <= v <= 1 for v in r[stage].values())
    # FER2013 runs carry their leakage: one flag and one duplicate-group label per test image
    assert len(r["test"]["leaked"]) == len(r["test"]["groups"]) == len(r["test"]["ids"]) == 32


def test_noise_stage_raw_goes_through_the_experiments_preprocessing():
    from fer_lib import preprocess

    raw = np.random.default_rng(0).integers(0, 256, (2, 48, 48), dtype=np.uint8)
    prep = Prepared(*(np.zeros(1),) * 6, np.array(["a", "b"]), ("x",), "s", "h", steps=("clahe",), input_kind="gray01")
    assert np.allclose(prep.from_raw(raw), preprocess.normalise(preprocess.clahe(raw)))
    with pytest.raises(ValueError, match="noise_stages"):
        runner.noise_stages({"evaluate": {"noise_stages": ["later"]}})
    assert runner.noise_stages({}) == ["input"]


def test_leak_fields_flag_test_images_with_a_copy_in_training(fer_root, tmp_cache):
    paths = DataPaths.resolve(fer_root, None, env={})
    ds = load_dataset({"dataset": "fer2013", "pool": "all"}, paths)
    pairs = audit.cached_duplicate_pairs(ds.images)
    exact = pairs[pairs["kind"] == "exact"].iloc[:3]
    copied = set(pairs["i"]) | set(pairs["j"])
    clean = [k for k in range(2000) if k not in copied][:4]
    train = np.array(sorted(set(exact["i"]) | set(clean[:2])))
    test = np.array(list(exact["j"]) + clean[2:])
    prep = Prepared(*(np.zeros(1),) * 6, ds.ids[test], ds.class_names, "s", "h", train_index=train, test_index=test)
    out = runner.leak_fields(prep, ds)
    assert out["leaked"] == [True, True, True, False, False]
    for k, j in enumerate(exact["j"]):  # the leaked copies really are the training images' pixels
        i = int(exact["i"].iloc[k])
        assert np.array_equal(ds.images[i], ds.images[j])
    assert len(set(out["groups"])) == 5  # five distinct images, five clusters within the test set


def test_ck_with_the_papers_split_mixes_subjects(run):
    r = run("emotionnet", "ck_full-stratified")
    assert "subjects mixed" in r["split"] and sum(r["sizes"].values()) == 327
    assert r["sizes"]["test"] == pytest.approx(0.15 * 327, abs=1)
    assert "leaked" not in r["test"]  # CK+: subjects, not duplicate groups
    assert set(r["noise_robustness_raw"]) == {"0.05", "0.1", "0.2"}


NEW = [("emotionnet", "no_align"), ("emotionnet", "no_clahe"), ("emotionnet", "no_augmentation"),
       ("wasey", "cnn_lstm-no_aug"), ("lamichhane", "cnn-7-lr0.1"), ("lamichhane", "cnn_bilstm_fc-7")]


@pytest.mark.parametrize("paper,name", NEW)
def test_new_experiments_run(run, paper, name):
    r = run(paper, name)
    exp = experiments_for(paper, [name])[0]
    assert r["experiment"] == exp.id and r["sizes"]["test"] == 32 and len(r["test"]["leaked"]) == 32
    assert r["assumptions"] == list(exp.assumptions) and r["rules_version"]["rules"]


def test_bundle_carries_the_alignment_tables_a_run_needs(fer_root, ck_root, tmp_path, monkeypatch):
    """``fer bundle --align-for``: the tables computed here travel in the bundle, and a machine
    without dlib runs the EmotionNet pipeline (pool and raw-noise test sets) from them alone."""
    from fer_lib import align, data
    from fer_lib.experiment_data import prepare

    paths = DataPaths.resolve(fer_root, ck_root, env={})
    job = runner.jobs_for(["emotionnet"], MINI, ["full"], results_dir=tmp_path / "r", work_dir=tmp_path / "w")[0]
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "here"))
    tables = runner.align_for_jobs([job], paths)
    assert len(tables) == 5  # the sliced pool, the raw test images at each of three sigmas, CK+48 (cross-dataset)
    ck = data.load_ckplus(ck_root)
    bundle = data.save_bundle(ck, tmp_path / "ck.npz", alignment=align.tables_as_arrays(tables))

    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "there"))  # the other machine: empty cache, no dlib
    monkeypatch.setattr(align.importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ImportError, match="fer bundle --align-for"):
        prepare(job.experiment, MINI, 0, paths)
    back = data.load_bundle(bundle)
    assert back.source_hash == ck.source_hash and len(list((tmp_path / "there" / "align").glob("*.npz"))) == 5
    with align.recording_tables() as used:
        prep = prepare(job.experiment, MINI, 0, paths)[0]
        for sigma in (0.05, 0.1, 0.2):
            prep.from_raw(prep.noisy_raw(sigma))
        cross_dataset.ckplus_inputs(prep.steps, prep.input_kind, paths)
    assert sorted(p.name for p in used) == sorted(p.name for p in tables)


def test_fer2013_models_are_tested_on_ckplus(run):
    r = run("xu", "cnn")
    cd = r["cross_dataset"]
    ck = load_dataset({"dataset": "ckplus"}, run.paths)
    assert cd["ckplus_images"] == int((np.asarray(ck.class_names)[ck.labels] != "contempt").sum())
    assert 0 <= cd["ckplus_accuracy"] <= 1 and cd["drop"] == pytest.approx(cd["fer2013_accuracy"] - cd["ckplus_accuracy"])
    assert run("lamichhane", "cnn-3")["cross_dataset"] is None  # three classes: not the six shared emotions


def test_a_failing_cross_dataset_test_does_not_lose_the_run(run, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise ImportError("no alignment table for CK+48")

    monkeypatch.setattr(cross_dataset, "evaluate", broken)
    r = run("xu", "cnn")
    assert r["metrics"]["accuracy"] is not None and r["cross_dataset"] == {
        "error": "ImportError: no alignment table for CK+48"}
    assert "cross-dataset test skipped" in capsys.readouterr().err


def test_shared_accuracy_predicts_among_the_six_shared_classes():
    # FER2013 order: angry disgust fear happy sad surprise neutral
    y = np.array([3, 3, 4, 6])
    proba = np.array([[0, 0, 0, .4, 0, 0, .6],   # neutral is most probable, happy the best shared class: right
                      [0, 0, 0, 0, .5, 0, .5],    # sad: wrong
                      [0, 0, 0, 0, .9, 0, .1],    # right
                      [0, 0, 0, 0, 0, 0, 1.]])    # a neutral face is not counted
    assert cross_dataset.shared_accuracy(y, proba) == (pytest.approx(2 / 3), 3)


def test_a_class_subset_is_not_served_the_full_pool_from_memory(fer_root):
    """The pool memo is keyed by the class selection too: a 3-class run after a 7-class one in the
    same process trains on its three classes."""
    paths = DataPaths.resolve(fer_root, None, env={})
    assert len(load_dataset({"dataset": "fer2013"}, paths).class_names) == 7
    three = load_dataset({"dataset": "fer2013", "classes": ["happy", "sad", "neutral"]}, paths)
    assert three.class_names == ("happy", "sad", "neutral") and set(np.unique(three.labels)) == {0, 1, 2}


def test_test_time_flip_averages_an_image_and_its_mirror():
    import keras

    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(2, use_bias=False)])
    kernel = np.zeros((16, 2), "float32")
    kernel[[r * 4 for r in range(4)], 0] = 1.0  # logit 0: the sum of the first column
    kernel[[r * 4 + 3 for r in range(4)], 1] = 1.0  # logit 1: the sum of the last column
    model.layers[-1].set_weights([kernel])
    x = np.zeros((1, 4, 4, 1), "float32")
    x[0, :, 0, 0] = 5.0  # bright left edge: class 0 alone, a tie once mirrored images are averaged in
    assert runner.predict_tta(model, x)[0][0].argmax() == 0
    assert np.allclose(runner.predict_tta(model, x, flip=True)[0], 0.5)


def test_the_strong_reference_runs_and_is_not_a_paper(run):
    from fer_lib import experiments

    assert "reference" not in experiments.list_papers() and experiments.list_references() == ["reference"]
    r = run("reference", "vgg")
    assert r["config"]["evaluate"]["tta_flip"] and "validation PublicTest; test PrivateTest" in r["split"]
    assert r["config"]["train"]["schedule"] == "cosine" and r["cross_dataset"]["ckplus_images"] > 0
