"""The GPU call's provenance: the device tool sends the tree without .git, so scripts/gpu_run.sh
names the commit only where the tree's code digest matches the stamp gpu_carry.sh made here."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from fer_lib.config import REPO
from fer_lib.results import code_digest, git_commit


def test_code_digest_follows_code_and_configs_not_caches(tmp_path):
    (tmp_path / "fer_lib" / "__pycache__").mkdir(parents=True)
    (tmp_path / "experiments").mkdir()
    (tmp_path / "fer_lib" / "a.py").write_text("x = 1\n")
    (tmp_path / "experiments" / "p.yaml").write_text("paper: p\n")
    first = code_digest(root=tmp_path)
    (tmp_path / "fer_lib" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert code_digest(root=tmp_path) == first
    (tmp_path / "experiments" / "p.yaml").write_text("paper: q\n")
    assert code_digest(root=tmp_path) != first


def _git(repo, *args) -> str:
    """git in a throw-away repository (its own committer, so no global config is needed)."""
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()


def _device_tree(tmp_path):
    """What the device tool sends: files, no .git (here only what gpu_run.sh needs before training)."""
    tree = tmp_path / "tree"
    for d in ("fer_lib", "experiments", "claims", "scripts"):
        shutil.copytree(REPO / d, tree / d, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / ".carry").mkdir()
    return tree


def _gpu_run(tree, tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("FER_COMMIT", "PYTHONPATH")}
    env.update(PYTHON=sys.executable, OUT=str(tmp_path / "out"), GIT_CEILING_DIRECTORIES=str(tmp_path))
    return subprocess.run(["bash", "scripts/gpu_run.sh", *args], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=300)


def test_gpu_run_refuses_paper_runs_whose_code_is_not_the_stamped_commit(tmp_path):
    tree = _device_tree(tmp_path)
    (tree / ".carry" / "commit").write_text(f"{'a' * 40} {code_digest()}\n")
    (tree / "fer_lib" / "config.py").write_text((tree / "fer_lib" / "config.py").read_text() + "\n# edited\n")
    p = _gpu_run(tree, tmp_path, "paper", "100")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "no .carry/commit matching this tree" in p.stdout
    assert not (tmp_path / "out" / "results.tgz").exists()  # nothing trained


def test_gpu_run_names_the_stamped_commit_when_the_code_matches(tmp_path):
    tree = _device_tree(tmp_path)
    (tree / ".carry" / "commit").write_text(f"{'b' * 40} {code_digest(root=tree)}\n")
    # an unknown experiment ends fer run at once, after the provenance step and before any training
    p = _gpu_run(tree, tmp_path, "paper", "100", "--paper", "ozer", "--experiment", "no-such-experiment")
    log = (tmp_path / "out" / "run.log").read_text()
    assert f"code and configs of commit {'b' * 40}" in log, p.stdout + p.stderr
    assert "no-such-experiment" in log
    assert p.returncode not in (0, 3)


def test_gpu_slim_keeps_results_and_weights_here_during_the_call_and_restores_them(tmp_path):
    """The device tool sends tracked and untracked-not-ignored files: hidden ones must be neither."""
    repo = tmp_path / "repo"
    for rel, text in {"scripts/gpu_slim.sh": (REPO / "scripts" / "gpu_slim.sh").read_text(),
                      "scripts/device_limits.sh": (REPO / "scripts" / "device_limits.sh").read_text(),
                      "results/paper/p/e/seed0.json": "{}", "weights/m.json": "{}", "fer_lib/x.py": "",
                      ".gitignore": ".carry/\n"}.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git = lambda *a: _git(repo, *a)
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "x")
    slim = lambda what: subprocess.run(["bash", "scripts/gpu_slim.sh", what], cwd=repo, capture_output=True, text=True)
    assert slim("hide").returncode == 1  # no .carry/results.tgz yet: finished runs would be trained again
    (repo / ".carry").mkdir()
    (repo / ".carry" / "results.tgz").write_bytes(b"")
    p = slim("hide")
    assert p.returncode == 0, p.stderr
    sent = git("ls-files", "-co", "--exclude-standard").split()
    assert sorted(sent) == [".gitignore", "fer_lib/x.py", "scripts/device_limits.sh", "scripts/gpu_slim.sh"]
    assert not (repo / "results").exists() and not (repo / "weights").exists()
    p = slim("restore")
    assert p.returncode == 0, p.stderr
    assert git("status", "--porcelain") == ""
    assert (repo / "results/paper/p/e/seed0.json").read_text() == "{}"


def test_device_limits_name_what_would_not_come_back(tmp_path):
    """gpu_run.sh (there) and gpu_rehearse.sh (here) judge $OUT by these lines: empty means all comes back."""
    unreturned = lambda: subprocess.run(["bash", "-c", f"source {REPO}/scripts/device_limits.sh; "
                                         f"device_unreturned {tmp_path}"], capture_output=True, text=True,
                                        check=True).stdout.splitlines()
    for i in range(8):
        (tmp_path / f"f{i}.txt").write_text("x")
    assert unreturned() == []
    (tmp_path / "f8.txt").write_text("x")
    assert unreturned() == ["9 files (at most 8 come back)"]
    (tmp_path / "f8.txt").unlink()
    with open(tmp_path / "work.tgz", "wb") as f:  # sparse: 17 MiB without writing them
        f.truncate(17 * 1024 * 1024)
    assert unreturned() == ["9 files (at most 8 come back)", "work.tgz is over 16 MiB (such a file does not come back)"]


def test_runs_of_unchanged_code_share_one_commit_across_later_commits(tmp_path, monkeypatch):
    """A results or docs commit (one per GPU lease) must not give the next runs of the same code another commit."""
    monkeypatch.delenv("FER_COMMIT", raising=False)
    git = lambda *a: _git(tmp_path, *a)
    (tmp_path / "fer_lib").mkdir()
    (tmp_path / "fer_lib" / "a.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "code")
    code = git("rev-parse", "HEAD")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "seed0.json").write_text("{}")
    git("add", "-A")
    git("commit", "-q", "-m", "results")
    assert git_commit(root=tmp_path) == (code, False)
    assert git_commit(paths=(), root=tmp_path) == (git("rev-parse", "HEAD"), False)  # the book's build: HEAD
    (tmp_path / "fer_lib" / "a.py").write_text("x = 2\n")
    assert git_commit(root=tmp_path) == (code, True)
