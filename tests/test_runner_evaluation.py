"""What the runner records beyond accuracy, on tiny real slices: noise before and after
preprocessing, per-run leakage for FER2013, CK+ with the paper's split, and the experiments that
issue 9 added (each must run in a smoke-sized profile)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fer_lib import audit, runner
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
