"""A wheel built from pyproject.toml carries the library, its configs and claims, and runs a smoke
experiment from outside the repository (no checkout, data given by flag)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_runs_smoke_outside_the_repository(tmp_path, fer_root, ck_root):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(REPO),
                    "-w", str(dist)], check=True, capture_output=True, cwd=tmp_path)
    wheel = next(dist.glob("fer_replication-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(REPO)) for p in (REPO / "fer_lib").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    configs = {f"fer_lib/_data/experiments/{p.name}" for p in (REPO / "experiments").glob("*.yaml")}
    assert configs | {"fer_lib/_data/claims/claims.yaml"} <= names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "FER_CACHE_DIR": str(tmp_path / "cache")}
    for var in ("FER_RESULTS", "FER_WORK", "FER_EXPERIMENTS", "FER_CLAIMS"):
        env.pop(var, None)
    where = subprocess.run([sys.executable, "-c", "import fer_lib, fer_lib.claims as c; print(fer_lib.__file__); "
                            "print(len(c.load_claims()))"], env=env, cwd=work, capture_output=True, text=True,
                           check=True).stdout.split()
    assert where[0].startswith(str(site)) and int(where[1]) > 50
    run = subprocess.run([sys.executable, "-m", "fer_lib", "run", "--profile", "smoke", "--paper", "xu",
                          "--experiment", "cnn", "--quiet", "--fer2013", str(fer_root), "--ckplus", str(ck_root)],
                         env=env, cwd=work, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads((work / "results" / "smoke" / "xu" / "cnn" / "seed0.json").read_text())
    assert result["experiment"] == "xu/cnn" and result["profile"] == "smoke"
