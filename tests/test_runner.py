"""The runner on a tiny real slice: results JSON with provenance, skip, resume, determinism."""
from __future__ import annotations

import json
import platform
import re

import numpy as np
import pytest

from fer_lib import experiments, runner
from fer_lib.config import DataPaths, Profile
from fer_lib.train import TrainConfig, fit, read_history, set_determinism


TINY = Profile("tiny", "two epochs on a slice (tests)", (0,), epochs=2, max_train=120, max_val=40, max_test=60,
               max_folds=1)


@pytest.fixture()
def isolated(tmp_path, tmp_cache, fer_root, ck_root):
    """Results, work folders and data paths of this test only, passed explicitly."""
    paths = DataPaths.resolve(fer_root, ck_root, env={})

    def jobs(paper, name):
        return runner.jobs_for([paper], TINY, [name], results_dir=tmp_path / "results", work_dir=tmp_path / "work")

    return jobs, paths


def test_run_writes_result_with_provenance_and_skips_when_done(isolated):
    jobs, paths = isolated
    job = jobs("ozer", "csv-cnn_lstm")[0]
    path = runner.run_job(job, paths, verbose=0)
    r = json.loads(path.read_text())
    assert r["experiment"] == "ozer/csv-cnn_lstm" and r["sizes"] == {"train": 120, "val": 40, "test": 60}
    assert r["params"] == 232_967 and len(r["history"]["epoch"]) == 2
    for key in ("commit", "data_hash", "seed", "profile", "device", "packages", "backend", "determinism"):
        assert key in r["provenance"]
    assert r["provenance"]["determinism"]["seeded"] is True and r["provenance"]["determinism"]["seed"] == 0
    assert len(r["test"]["proba"]) == 60 and 0 <= r["metrics"]["accuracy"] <= 1
    mtime = path.stat().st_mtime_ns
    runner.run_job(job, paths, verbose=0)
    assert path.stat().st_mtime_ns == mtime  # finished runs are skipped
    assert not job.work_path.exists()  # the work folder is cleaned once the result is safe
    assert job.weights_path.exists()  # the selected weights stay beside the result


def test_same_seed_same_metrics(isolated):
    jobs, paths = isolated
    job = jobs("xu", "rnn_lstm")[0]
    first = json.loads(runner.run_job(job, paths, verbose=0).read_text())
    job.result_path.unlink()
    second = json.loads(runner.run_job(job, paths, verbose=0).read_text())
    assert first["test"]["proba"] == second["test"]["proba"]
    assert first["history"]["loss"] == second["history"]["loss"]


def test_killed_run_resumes_from_last_epoch(tmp_path):
    import keras

    from fer_lib.models import create_model

    rng = np.random.default_rng(0)
    x, y = rng.random((64, 48, 48, 1), dtype=np.float32), rng.integers(0, 7, 64)

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    set_determinism(0)
    cfg = TrainConfig(epochs=4, batch_size=32)
    with pytest.raises(KeyboardInterrupt):  # interrupted after the second epoch, as a kill would
        fit(create_model("xu_rnn_lstm", units=8), x, y, x[:16], y[:16], cfg, tmp_path, verbose=0,
            extra_callbacks=(Kill(),))
    assert read_history(tmp_path / "epochs.jsonl")["epoch"] == [1, 2]
    out = fit(create_model("xu_rnn_lstm", units=8), x, y, x[:16], y[:16], cfg, tmp_path, verbose=0)
    assert out["history"]["epoch"] == [1, 2, 3, 4]  # only epochs 3 and 4 were trained again
    assert out["epochs_run"] == 4


def test_progress_bar_covers_the_whole_run_and_counts_resumed_epochs(tmp_path, capsys):
    """verbose=1 (the notebooks): one tqdm bar over all epochs' batches, not Keras' bar per epoch."""
    import keras

    from fer_lib.models import create_model

    rng = np.random.default_rng(0)
    x, y = rng.random((64, 48, 48, 1), dtype=np.float32), rng.integers(0, 7, 64)

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise KeyboardInterrupt

    set_determinism(0)
    cfg = TrainConfig(epochs=3, batch_size=32)  # 2 batches per epoch
    with pytest.raises(KeyboardInterrupt):
        fit(create_model("xu_rnn_lstm", units=8), x, y, x[:16], y[:16], cfg, tmp_path, verbose=1,
            extra_callbacks=(Kill(),))
    capsys.readouterr()
    fit(create_model("xu_rnn_lstm", units=8), x, y, x[:16], y[:16], cfg, tmp_path, verbose=1)
    out = capsys.readouterr().out
    last = out.replace("\r", "\n").strip().splitlines()[-1]
    assert re.match(r"epoch 3/3: +100%\|.*\| 6/6 ", last), last  # 2 of the 6 batches were the resumed epoch
    assert re.search(r"loss=\d\.\d{3}, acc=\d\.\d{3}, val_loss=\d\.\d{3}, val_acc=\d\.\d{3}", last), last
    assert "Epoch 1/3" not in out  # Keras' own per-epoch bar is off


def test_ck_kfold_run_pools_folds(isolated):
    jobs, paths = isolated
    job = jobs("emotionnet", "ck_no_lstm")[0]
    r = json.loads(runner.run_job(job, paths, verbose=0).read_text())
    assert r["config"]["split"]["kind"] == "subject_kfold"
    assert r["sizes"]["test"] == len(r["test"]["ids"]) and all(i.startswith("S") for i in r["test"]["ids"])


def test_unknown_parameters_are_rejected(tmp_path):
    (tmp_path / "bad.yaml").write_text("paper: bad\nexperiments:\n  a: {model: xu_cnn, epochz: 3}\n")
    with pytest.raises(ValueError, match=r"bad.yaml: experiment 'a' has unknown key\(s\) \['epochz'\]"):
        experiments.load_paper("bad", tmp_path)
    with pytest.raises(ValueError, match="unknown training parameter"):
        TrainConfig.from_dict({"epochs": 1, "lr": 0.1})
    with pytest.raises(ValueError, match="unknown profile"):
        runner.jobs_for(["ozer"], "huge")


def test_every_config_is_valid():
    for paper in experiments.list_papers():
        assert experiments.experiments_for(paper)


def test_experiment_names_pick_across_papers_and_an_unknown_one_fails():
    papers = experiments.list_papers()
    ids = lambda jobs: [j.experiment.id for j in jobs]  # noqa: E731
    assert ids(runner.jobs_for(papers, "paper", ["full"], [0])) == ["emotionnet/full"]
    assert ids(runner.jobs_for(papers, "quick", ["ozer/csv-cnn", "cnn_lstm"])) == ["ozer/csv-cnn", "wasey/cnn_lstm"]
    with pytest.raises(ValueError, match=r"no experiment \['fulll'\] in .*known: .*emotionnet/full"):
        runner.jobs_for(papers, "quick", ["full", "fulll"])  # never a silent "all 28 runs"
    with pytest.raises(ValueError, match="known"):
        runner.jobs_for(["ozer"], "quick", ["full"])
    with pytest.raises(ValueError, match="cnn is wasey/cnn or xu/cnn; give the id or --paper"):
        runner.jobs_for(papers, "quick", ["cnn"])  # a name two papers share picks neither silently
    assert ids(runner.jobs_for(["wasey"], "quick", ["cnn", "cnn"])) == ["wasey/cnn"]


def test_runs_start_longest_first():
    """epochs x passes x training images x folds: the ten-fold CK+ runs (100 epochs of ten passes
    over 327 clips) first, then the 100-epoch FER2013 runs; the one-fold CK+ run last."""
    jobs = runner.longest_first(runner.jobs_for(experiments.list_papers(), "paper", seeds=[0]))
    costs = [runner.estimated_cost(j) for j in jobs]
    assert costs == sorted(costs, reverse=True)
    assert jobs[0].experiment.spec["dataset"] == "ckplus" and runner.estimated_cost(jobs[0]) == 100 * 10 * 327 * 10
    fer = next(j for j in jobs if j.experiment.spec["dataset"] == "fer2013")
    assert runner.train_config(fer.experiment, "paper").epochs == 100 and runner.estimated_cost(fer) == 100 * 28709
    assert jobs[-1].experiment.name == "ck_full-stratified" and costs[-1] == 100 * 10 * 327
    smoke = runner.jobs_for(["emotionnet"], "smoke")
    # smoke: 1 epoch, <= 400 images, 2 folds; CK+ with the paper's stratified split is one fold
    assert {runner.estimated_cost(j) for j in smoke} == {400, 327 * 2, 327}


def test_dask_cluster_runs_a_paper_and_skips_it_the_second_time(tmp_path, tmp_cache, fer_root, ck_root, capsys):
    """xu's smoke runs on a local two-worker Dask cluster (processes, one thread each)."""
    from distributed import LocalCluster

    from fer_lib.experiment_data import load_dataset

    paths = DataPaths.resolve(fer_root, ck_root, env={})
    load_dataset({"dataset": "fer2013"}, paths)  # decode once into this test's cache; the workers map it
    jobs = runner.jobs_for(["xu"], "smoke", results_dir=tmp_path / "results", work_dir=tmp_path / "work")
    assert len(jobs) == 2
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        out = runner.run_jobs(jobs, paths, scheduler=cluster.scheduler_address)
        assert out == [j.result_path for j in jobs] and all(p.exists() for p in out)
        runs = [json.loads(p.read_text()) for p in out]
        assert {r["experiment"] for r in runs} == {"xu/cnn", "xu/rnn_lstm"}
        assert all(r["sizes"]["train"] == 400 and r["provenance"]["determinism"]["seeded"] for r in runs)
        assert len({r["provenance"]["invocation"] for r in runs}) == 1  # one call, on whichever worker
        assert runs[0]["provenance"]["invocation"].startswith(platform.node() + " 20")
        assert not any(j.work_path.exists() for j in jobs)
        mtimes = [p.stat().st_mtime_ns for p in out]
        capsys.readouterr()
        runner.run_jobs(jobs, paths, scheduler=cluster.scheduler_address)
        assert "2 runs, 2 already done, 0 to run" in capsys.readouterr().out
        assert [p.stat().st_mtime_ns for p in out] == mtimes


def test_unreachable_scheduler_says_what_to_do(isolated):
    import dask

    jobs, paths = isolated
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), pytest.raises(ValueError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'.*dask scheduler"):
        runner.run_on_dask(jobs("xu", "cnn"), paths, "tcp://127.0.0.1:9")


def test_wall_time_of_a_resumed_run_counts_the_earlier_attempts(tmp_path):
    assert runner.earlier_attempts_s(tmp_path / "never-started") == 0.0
    for fold, secs in (("fold0", [1.5, 2.0]), ("fold1", [3.0])):
        (tmp_path / fold).mkdir()
        (tmp_path / fold / "epochs.jsonl").write_text("".join(json.dumps({"epoch": i + 1, "seconds": s}) + "\n"
                                                              for i, s in enumerate(secs)))
    assert runner.earlier_attempts_s(tmp_path) == pytest.approx(6.5)
