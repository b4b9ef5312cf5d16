"""The shape the README's module map promises: no import cycles in core, short modules, core free
of Streamlit, and strategy kinds decided in one table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "core"
MODULES = {path.stem: path for path in CORE.glob("*.py")}


def core_imports(path: Path) -> set[str]:
    """The core modules `path` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "core":
            parts = node.module.split(".")
            found |= {parts[1]} if len(parts) > 1 else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("core.")}
    return (found & set(MODULES)) - {path.stem}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                return path[path.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep, path + [dep])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_core_has_no_import_cycle():
    assert find_cycle({name: core_imports(path) for name, path in MODULES.items()}) is None


def test_find_cycle_sees_one_inside_a_function():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_core_module_is_short_and_free_of_streamlit(name):
    text = MODULES[name].read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 400
    assert not re.search(r"^\s*(import|from) streamlit", text, re.MULTILINE)


def test_only_the_registry_and_the_kinds_table_branch_on_a_strategy_kind():
    places = [path for path in [*CORE.glob("*.py"), *CORE.parent.glob("ui/*.py"), *CORE.parent.glob("pages/*.py")]
              if re.search(r"\.kind\s*[!=]=\s*[\"'](encoder|features|tfidf)", path.read_text(encoding="utf-8"))]
    assert places == []


def test_nothing_unpickles_or_runs_remote_code():
    code = {path: path.read_text(encoding="utf-8") for path in
            [*CORE.glob("*.py"), *CORE.parent.glob("ui/*.py"), *CORE.parent.glob("pages/*.py"), CORE.parent / "app.py"]}
    risky = re.compile(r"trust_remote_code\s*=\s*True|torch\.load\(|import pickle|pickle\.loads?\(|joblib\.load"
                       r"|unsafe_allow_html\s*=\s*True")
    assert [str(path) for path, text in code.items() if risky.search(text)] == []
    loading = code[CORE / "models.py"]
    assert "use_safetensors=True" in loading  # pretrained weights only from safetensors files
