"""``fer lab``: JupyterLab on the paper notebooks, in this environment, with the project's settings.

Three things make a fresh clone open ``notebooks/ozer.md`` as a runnable notebook in one click:

* the server is this interpreter's JupyterLab, so its ``python3`` kernel is this environment
  (``JUPYTER_PREFER_ENV_PATH`` keeps a ``python3`` kernel in the user's home from shadowing it),
  and the checkout is put first on the kernel's ``PYTHONPATH`` so it imports this ``fer_lib``;
* ``--LabApp.app_settings_dir`` points at ``jupyter/lab/settings`` in the checkout, whose
  ``overrides.json`` makes Jupytext's notebook view the default for Markdown (``scripts/setup_env.sh``
  installs the same file into the venv for a plain ``jupyter lab``);
* data paths given here are exported, so the notebooks' empty path parameters resolve to them.

Any other option (``--port``, ``--no-browser``, ``--IdentityProvider.token=...``) goes to
``jupyter lab`` unchanged. Saving keeps the MyST text form: Jupytext's contents manager writes a
``.md`` notebook back in the format named in its header.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from fer_lib.config import REPO

SETTINGS_DIR = REPO / "jupyter" / "lab" / "settings"
NOTEBOOKS = REPO / "notebooks"
DATA_VARS = {"fer2013": "FER2013_PATH", "ckplus": "CKPLUS_PATH", "fer2013_csv": "FER2013_CSV"}


def lab_command(jupyter_args: list[str] = (), data: dict[str, str | None] | None = None,
                env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The ``jupyter lab`` argv and environment for this checkout (raises if there is no checkout)."""
    if not NOTEBOOKS.is_dir() or not (SETTINGS_DIR / "overrides.json").is_file():
        raise FileNotFoundError(f"fer lab needs a checkout of the project: no {NOTEBOOKS} or "
                                f"{SETTINGS_DIR / 'overrides.json'} (clone the repository and run it there)")
    env = dict(os.environ if env is None else env)
    env["JUPYTER_PREFER_ENV_PATH"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    for key, value in (data or {}).items():
        if value:
            env[DATA_VARS[key]] = str(Path(value).expanduser().resolve())
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={REPO}",
            f"--LabApp.app_settings_dir={SETTINGS_DIR}", "--ServerApp.default_url=/lab/tree/notebooks",
            *jupyter_args]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root; Jupyter refuses without this
        argv.insert(3, "--allow-root")
    return argv, env


def start_lab(jupyter_args: list[str] = (), data: dict[str, str | None] | None = None) -> int:
    """Replace this process by the JupyterLab server (so stopping ``fer lab`` stops the server)."""
    argv, env = lab_command(jupyter_args, data)
    print(f"[fer lab] JupyterLab on {NOTEBOOKS} (kernel: {sys.executable})", flush=True)
    os.execve(argv[0], argv, env)
    return 0  # not reached
