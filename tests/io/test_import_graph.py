"""No import cycle among the modules of ``myocit_omics.io`` (the cytokine readers used to form one)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import myocit_omics.io

IO_DIR = Path(myocit_omics.io.__file__).parent
PKG = "myocit_omics.io"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(IO_DIR.rglob("*.py")):
        parts = list(path.relative_to(IO_DIR).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([PKG, *parts])] = path
    return out


def _import_graph() -> dict[str, set[str]]:
    """Edges module -> io module it imports (anywhere in the file, lazy imports included).

    ``from A import B`` points at ``A.B`` when that is a module, else at ``A``; the implicit
    import of a parent package by its submodules is not an edge (Python runs it first).
    """
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = mod.split(".")
                    anchor = anchor if is_pkg else anchor[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                if t in mods and t != mod:
                    graph[mod].add(t)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return [*stack[stack.index(m) :], m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_io_import_graph_has_no_cycle():
    graph = _import_graph()
    # the graph is real: the dispatcher reaches every reader through the registry
    assert "myocit_omics.io.cytokine.registry" in graph["myocit_omics.io.cytokine.dispatch"]
    for reader in ("xponent", "msd", "bioplex", "olink", "generic_long"):
        mod = f"myocit_omics.io.cytokine.{reader}"
        assert mod in graph["myocit_omics.io.cytokine.registry"]
        assert graph[mod] == {"myocit_omics.io.cytokine.common"}, (mod, graph[mod])
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_cycle_finder_finds_a_planted_cycle():
    graph = _import_graph()
    graph["myocit_omics.io.cytokine.common"].add("myocit_omics.io.cytokine.registry")
    cyc = _cycle(graph)
    assert cyc is not None and "myocit_omics.io.cytokine.common" in cyc


def test_every_io_module_imports_first_in_a_fresh_interpreter():
    """Each module imported first (no other myocit_omics module loaded): no partial-init error."""
    mods = sorted(_modules())
    code = (
        "import importlib, sys\n"
        f"mods = {mods!r}\n"
        "bad = []\n"
        "for m in mods:\n"
        "    for k in [k for k in sys.modules if k.startswith('myocit_omics')]:\n"
        "        del sys.modules[k]\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except Exception as exc:\n"
        "        bad.append(f'{m}: {exc!r}')\n"
        "print('\\n'.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
