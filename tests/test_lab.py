"""Interactive JupyterLab, as a user meets it: ``fer lab`` opens a paper notebook as a notebook.

The browser test starts the server with the documented command (``python -m fer_lib lab``) on a
free loopback port with a token, opens ``notebooks/ozer.md`` from the file browser in headless
Chromium (driven by Playwright, using the system Chromium; nothing is downloaded), sets the
parameters cell to ``train = False`` and the ``quick`` profile (committed results), runs all cells
and checks the claims table. The server is always shut down. Without Chromium the test skips,
except under CI (``CI=true`` or ``FER_REQUIRE_DATA=1``), where it fails.
"""
from __future__ import annotations

import ast
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jupytext
import pytest

from fer_lib import lab
from fer_lib.verdicts import VERDICTS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.md"))
PAPERS = ("wasey", "emotionnet", "lamichhane", "ozer", "xu")
SCREENSHOTS = REPO / "_build" / "check"  # looked at by a person; kept out of git like the book
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
UNDER_CI = os.environ.get("CI") == "true" or bool(os.environ.get("FER_REQUIRE_DATA"))


def _skip_or_fail(msg: str):
    if UNDER_CI:
        pytest.fail(msg + " (required under CI)")
    pytest.skip(msg)


def _first_code_cell(path: Path):
    nb = jupytext.read(path)
    return next(c for c in nb.cells if c.cell_type == "code")


# -- without a browser ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_the_papermill_parameters_cell(path):
    cell = _first_code_cell(path)
    assert "parameters" in cell.metadata.get("tags", []), f"{path.name}: first code cell is not tagged parameters"
    names = {n.target.id for n in ast.parse(cell.source).body if isinstance(n, ast.AnnAssign)}
    assert {"profile", "train", "fer2013_path", "ckplus_path", "fer2013_csv", "workers"} <= names, names


def test_saving_from_jupyterlab_keeps_the_myst_text(tmp_path):
    """Jupytext's contents manager (what JupyterLab saves through) writes the .md back unchanged,
    even after a run added outputs, execution counts and kernel metadata."""
    from jupytext.sync_contentsmanager import TextFileContentsManager

    for p in NOTEBOOKS:
        shutil.copy(p, tmp_path / p.name)
    cm = TextFileContentsManager(root_dir=str(tmp_path))
    for p in NOTEBOOKS:
        model = cm.get(p.name, type="notebook", content=True)
        nb = model["content"]
        nb.metadata["language_info"] = {"name": "python", "version": sys.version.split()[0]}
        for c in nb.cells:
            if c.cell_type == "code":
                c.execution_count = 1
                c.outputs = [{"output_type": "stream", "name": "stdout", "text": "ran\n"}]
                c.metadata["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00Z"}
        cm.save(model, p.name)
        assert (tmp_path / p.name).read_text(encoding="utf-8") == p.read_text(encoding="utf-8"), p.name
        assert sorted(f.name for f in tmp_path.glob(p.stem + ".*")) == [p.name], "no paired .ipynb written"


def test_lab_command_uses_the_project_settings_and_this_environment():
    argv, env = lab.lab_command(["--no-browser"], {"fer2013": "~/fer", "ckplus": None}, env={})
    assert argv[:3] == [sys.executable, "-m", "jupyterlab"] and argv[-1] == "--no-browser"
    settings = Path(next(a.split("=", 1)[1] for a in argv if a.startswith("--LabApp.app_settings_dir=")))
    viewers = json.loads((settings / "overrides.json").read_text())["@jupyterlab/docmanager-extension:plugin"]
    assert viewers["defaultViewers"]["markdown"] == "Jupytext Notebook"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(REPO)
    assert env["FER2013_PATH"] == str(Path("~/fer").expanduser().resolve()) and "CKPLUS_PATH" not in env


def test_fer_lab_outside_a_checkout_says_so(tmp_path, monkeypatch, capsys):
    from fer_lib import cli

    monkeypatch.setattr(lab, "NOTEBOOKS", tmp_path / "notebooks")
    assert cli.main(["lab", "--no-browser"]) == 2
    assert "needs a checkout of the project" in capsys.readouterr().err


def test_only_fer_lab_passes_unknown_options_on(capsys):
    from fer_lib import cli

    with pytest.raises(SystemExit) as e:
        cli.main(["results", "--port", "8890"])
    assert e.value.code == 2 and "unrecognized arguments: --port 8890" in capsys.readouterr().err


# -- in the browser ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chromium() -> str:
    explicit = os.environ.get("CHROMIUM")
    found = explicit if explicit and Path(explicit).is_file() else next(
        filter(None, map(shutil.which, CHROMIUM_CANDIDATES)), None)
    if not found:
        _skip_or_fail("Chromium not found (install it: apt-get install -y chromium, or set $CHROMIUM)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _skip_or_fail("the playwright package is missing (pip install -r requirements.lock)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory, fer_root):
    """``python -m fer_lib lab`` on 127.0.0.1:<free port> with a token, isolated from the user's
    Jupyter config and settings (autosave off, so the test never writes the notebook)."""
    tmp = tmp_path_factory.mktemp("lab")
    user_settings = tmp / "user-settings" / "@jupyterlab" / "docmanager-extension"
    user_settings.mkdir(parents=True)
    (user_settings / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp / "user-settings"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "ws"),
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    port, token = _free_port(), secrets.token_hex(16)
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fer_lib", "lab", "--fer2013", str(fer_root), "--no-browser",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"fer lab exited with {proc.returncode}:\n{(tmp / 'server.log').read_text()[-3000:]}")
            try:
                if _get(f"{base}/api/status?token={token}")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer on {base} in 90 s:\n{(tmp / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, token, tmp / "server.log"
    finally:
        try:  # stops the kernels too (they run in their own process groups)
            urllib.request.urlopen(urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST"),
                                   timeout=10).close()
        except OSError:
            pass
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def _quick_parameters(source: str) -> str:
    src, n1 = re.subn(r'^profile: str = "\w+"', 'profile: str = "quick"', source, flags=re.M)
    src, n2 = re.subn(r"^train: bool = \w+", "train: bool = False", src, flags=re.M)
    assert n1 == n2 == 1, source
    return src


#: prompts ("[3]:", "[*]:", "[ ]:") and error outputs of the open notebook, read from the DOM
#: with textContent (cells scrolled out of view are not painted, but are in the DOM)
_STATE_JS = """() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const cells = [...nb.querySelectorAll('.jp-CodeCell')];
  return {
    prompts: cells.map(c => (c.querySelector('.jp-InputArea-prompt') || {}).textContent || ''),
    errors: [...nb.querySelectorAll('.jp-OutputArea-output')].map(o => o.textContent)
             .filter(t => t.includes('Traceback (most recent call last)')).map(t => t.slice(0, 600)),
  };
}"""


def test_ozer_opens_as_a_notebook_and_runs_with_committed_results(chromium, lab_server):
    from playwright.sync_api import expect, sync_playwright

    base, token, server_log = lab_server
    ozer = REPO / "notebooks" / "ozer.md"
    before = ozer.read_bytes()
    nb = jupytext.read(ozer)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    params = _quick_parameters(_first_code_cell(ozer).source)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(f"{base}/lab/tree/notebooks?token={token}")
            # the user's one action: double-click ozer.md in the file browser
            item = page.locator(".jp-DirListing-item", has=page.locator(".jp-DirListing-itemText",
                                                                        has_text=re.compile(r"^ozer\.md$")))
            item.dblclick()
            panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
            expect(panel).to_be_visible()
            expect(page.locator(".jp-FileEditor:not(.lm-mod-hidden)")).to_have_count(0)
            expect(page.locator(".lm-TabBar-tab.lm-mod-current", has_text="ozer.md").first).to_be_visible()
            # every cell of the file, as notebook cells (markdown rendered, code in editors)
            expect(panel.locator(".jp-Notebook .jp-Cell")).to_have_count(len(nb.cells))
            expect(panel.locator(".jp-Notebook .jp-CodeCell")).to_have_count(n_code)
            # a kernel from this environment, started and idle
            expect(panel.locator(".jp-Toolbar-kernelName")).to_contain_text("Python 3")
            expect(panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(1)
            page.screenshot(path=str(SCREENSHOTS / "lab_ozer_opened.png"))

            # the parameters cell: the first code cell; pick the quick profile and train = False
            editor = panel.locator(".jp-CodeCell").first.locator(".cm-content")
            editor.click()
            page.keyboard.press("ControlOrMeta+a")
            page.keyboard.insert_text(params)
            expect(editor).to_contain_text('profile: str = "quick"')
            expect(editor).to_contain_text("train: bool = False")
            page.keyboard.press("Escape")

            t0 = time.monotonic()
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            page.wait_for_function(f"() => {{ const s = ({_STATE_JS})(); "
                                   "return s.prompts.every(p => !p.includes('*')) && "
                                   "(s.errors.length > 0 || s.prompts.every(p => /\\[\\d+\\]/.test(p))); }",
                                   timeout=90_000, polling=500)
            elapsed = time.monotonic() - t0
            state = page.evaluate(_STATE_JS)
            page.screenshot(path=str(SCREENSHOTS / "lab_ozer_ran.png"))
            assert not state["errors"], "a cell raised:\n" + "\n---\n".join(state["errors"])
            unrun = [i for i, p in enumerate(state["prompts"]) if not re.search(r"\[\d+\]", p)]
            assert not unrun, f"code cells {unrun} did not run: {state['prompts']}"

            # the claims table (the paper's scoreboard), with verdicts from the committed results
            board = (panel.locator(".jp-OutputArea-output table",
                                   has=page.locator("th", has_text=re.compile(r"^\s*verdict\s*$")))
                     .filter(has=page.locator("th", has_text=re.compile(r"^\s*claim\s*$"))).first)
            board.scroll_into_view_if_needed()
            expect(board).to_be_visible()
            header = [t.strip() for t in board.locator("thead th").all_text_contents()]
            col = header.index("verdict")
            verdicts = [r.locator("td, th").nth(col).text_content().strip() for r in board.locator("tbody tr").all()]
            # a quick profile's verdicts read "indicative: <the way it went>"
            assert verdicts and {v.removeprefix("indicative: ") for v in verdicts} <= set(VERDICTS), verdicts
            assert set(verdicts) - {"missing", "reference"}, f"no claim judged from the quick results: {verdicts}"
            expect(panel.locator(".jp-OutputArea-output", has_text="QUICK PROFILE").first).to_be_attached()
            board.locator("thead").scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / "lab_ozer_scoreboard.png"))
            print(f"[lab] ran {len(state['prompts'])} code cells in {elapsed:.1f} s; {len(verdicts)} claims")
        finally:
            browser.close()
    assert ozer.read_bytes() == before, "the test changed notebooks/ozer.md"
