"""Each fact lives in one place: experiment ids, profiles and class names agree everywhere, and the
book's code reaches results only through result files (never a model or a dataset loader)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from fer_lib import claims as C
from fer_lib import experiments
from fer_lib.cli import build_parser
from fer_lib.config import CKPLUS_CLASSES, FER2013_CLASSES, PROFILES, REPO

PKG = REPO / "fer_lib"


def _imports(path: Path) -> set[str]:
    """fer_lib modules a file imports (at any level of the file)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fer_lib"):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("fer_lib")}
    return out


def _graph() -> dict[str, set[str]]:
    mods = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p for p in PKG.rglob("*.py")}
    return {m: {i for i in _imports(p) if i in mods} for m, p in mods.items()}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        for n in graph.get(m, ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def test_book_and_verdicts_never_reach_models_or_dataset_loading():
    graph = _graph()
    forbidden = {"fer_lib.models", "fer_lib.data", "fer_lib.experiment_data", "fer_lib.runner", "fer_lib.align"}
    starts = [m for m in graph if m.startswith("fer_lib.book") or m in ("fer_lib.verdicts", "fer_lib.results")]
    assert len(starts) >= 6
    for m in starts:
        assert not (_reachable(graph, m) & forbidden), (m, _reachable(graph, m) & forbidden)


def test_the_import_check_can_fail():
    graph = {"fer_lib.book.x": {"fer_lib.verdicts"}, "fer_lib.verdicts": {"fer_lib.runner"}}
    assert "fer_lib.runner" in _reachable(graph, "fer_lib.book.x")


def test_experiment_ids_agree_between_configs_claims_and_results():
    ids = set(experiments.experiment_ids())
    assert ids == set(C.known_experiments())
    named = {e for c in C.load_claims() for e in c.experiments}
    assert named <= ids, named - ids
    on_disk = {f"{p.parts[-3]}/{p.parts[-2]}" for p in (REPO / "results").glob("*/*/*/seed*.json")}
    assert on_disk <= ids, on_disk - ids
    assert set(C.paper_files()) == set(experiments.list_papers())


def test_profiles_are_defined_once():
    assert list(PROFILES) == ["smoke", "quick", "paper"]
    assert [p for p in PROFILES.values() if p.evidence] == [PROFILES["paper"]]
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    for cmd in ("run", "notebooks", "results"):
        choices = next(a.choices for a in sub[cmd]._actions if a.dest == "profile")
        assert list(choices) == list(PROFILES), cmd
    names = "|".join(PROFILES)
    for script in [REPO / "run_all.sh", REPO / ".ci" / "run", *(REPO / "scripts").glob("*")]:
        text = script.read_text(encoding="utf-8")
        assert not re.search(rf"\b({names})\|({names})\b", text), f"{script} lists profile names itself"
    for d in (REPO / "results").iterdir():
        if d.is_dir():
            assert d.name in PROFILES, d


def test_class_names_are_defined_once():
    pattern = re.compile(r"[\"']angry[\"'],\s*[\"']disgust[\"']|[\"']anger[\"'],\s*[\"']contempt[\"']")
    defined = [p for p in PKG.rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert defined == [PKG / "config.py"], defined
    assert len(FER2013_CLASSES) == 7 and len(CKPLUS_CLASSES) == 7
    for c in C.load_claims():
        for cls in (c.best or ()) + (c.worst or ()) + tuple(x for pair in (c.pairs or ()) for x in pair):
            assert cls in FER2013_CLASSES + CKPLUS_CLASSES, (c.id, cls)


def _discarded_show_calls(source: str) -> list[int]:
    """Lines of ``show(...)`` statements whose table Jupyter never displays: only a cell's last
    top-level expression is shown, so one inside a block (or before the end) must be ``display``ed."""
    tree = ast.parse(source)
    last = tree.body[-1] if tree.body else None
    return [n.lineno for n in ast.walk(tree)
            if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
            and getattr(n.value.func, "id", None) == "show" and n is not last]


def test_every_table_a_notebook_builds_is_displayed():
    import jupytext

    lost = []
    for path in sorted((REPO / "notebooks").glob("*.md")):
        for cell in jupytext.read(path).cells:
            if cell.cell_type == "code":
                lost += [f"{path.name}: {cell.source.splitlines()[i - 1].strip()}"
                         for i in _discarded_show_calls(cell.source)]
    assert not lost, "tables built but never shown (wrap them in display(...)):\n" + "\n".join(lost)


def test_the_discarded_table_check_can_fail():
    assert _discarded_show_calls("if x:\n    show(a)\nelse:\n    y = 1\n") == [2]
    assert _discarded_show_calls("x = 1\nshow(a)\n") == []


def _pins(path: Path) -> dict[str, str]:
    return dict(line.strip().split("==", 1) for line in path.read_text().splitlines() if "==" in line)


def test_gpu_lock_matches_the_locked_jax():
    """requirements-gpu.lock (setup_env.sh --gpu) adds JAX's CUDA plugin for the JAX of requirements.lock:
    a plugin of another version would not load, and a CPU package pinned twice could disagree."""
    cpu, gpu = _pins(REPO / "requirements.lock"), _pins(REPO / "requirements-gpu.lock")
    assert gpu["jax-cuda12-plugin"] == gpu["jax-cuda12-pjrt"] == cpu["jax"] == cpu["jaxlib"]
    assert not set(gpu) & set(cpu), f"pinned in both locks: {sorted(set(gpu) & set(cpu))}"
