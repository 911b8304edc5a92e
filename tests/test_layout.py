"""The package's layout: one pipeline stage per package, dependencies pointing one way.

Walks every module's imports with ``ast`` and fails on an import of a package further down the
pipeline (an upward import), on a cycle between modules, and on an import of the package's own
modules inside a function (which would hide the dependency graph). A module's
``if __name__ == "__main__":`` block is an entry point, not a dependency, and is not walked.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "llama_mapper"

# A package may import the packages of its own rank and of lower ranks, never of higher ones.
RANKS = {
    "__init__": 0,
    "resources": 0,
    "catalog": 1,
    "mapping": 2,
    "compliance": 3,
    "data": 3,
    "models": 4,
    "hub": 5,
    "serving": 6,
    "evaluation": 7,
    "onboarding": 7,
    "spark": 7,
    "training": 8,
    "demo": 9,
    "commands": 10,
    "cli": 10,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def is_main_block(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


def own_imports(tree: ast.Module) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """``(module-level imports, imports inside functions)`` of llama_mapper modules, as
    ``(module, line)``; ``from llama_mapper.x import y`` counts ``llama_mapper.x.y`` when that is a module."""
    top, inner = [], []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if is_main_block(child):
                continue
            if (
                isinstance(child, ast.ImportFrom)
                and child.level == 0
                and (child.module or "").startswith("llama_mapper")
            ):
                for alias in child.names:
                    name = f"{child.module}.{alias.name}"
                    target = name if resolve(name) else child.module
                    (inner if in_function else top).append((target, child.lineno))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("llama_mapper"):
                        (inner if in_function else top).append((alias.name, child.lineno))
            visit(
                child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            )

    visit(tree, False)
    return top, inner


def resolve(name: str) -> Path | None:
    """The file of module ``name``, if it is one of ours."""
    rel = Path(*name.split(".")[1:])
    for candidate in (PACKAGE / rel.with_suffix(".py"), PACKAGE / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: own_imports(ast.parse(path.read_text(encoding="utf-8"))) for name, path in MODULES.items()}


def test_every_package_has_a_rank():
    assert {stage(m) for m in MODULES} <= set(RANKS), {stage(m) for m in MODULES} - set(RANKS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import_and_none_inside_functions(module):
    top, inner = GRAPH[module]
    upward = [
        f"{module}:{line} imports {target}"
        for target, line in top
        if target != "llama_mapper" and RANKS[stage(target)] > RANKS[stage(module)]
    ]
    assert not upward, "upward imports (see the package order in README's Layout):\n" + "\n".join(upward)
    assert not inner, f"{module} imports its own package inside functions: {inner}"


def test_no_import_cycle():
    edges = {m: sorted({t for t, _ in GRAPH[m][0] if t in MODULES and t != m}) for m in MODULES}
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = "open"
        path.append(node)
        for nxt in edges[node]:
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt) :] + [nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module)


def test_the_rules_route_never_imports_torch():
    code = (
        "import sys, io, json\n"
        "from llama_mapper.commands.map import main\n"
        "sys.stdin = io.StringIO(json.dumps({'detector': 'openai-moderation', 'output': "
        "{'results': [{'flagged': True, 'categories': {'hate': True}, 'category_scores': {'hate': 0.9}}]}}) + '\\n')\n"
        "assert main(['--route', 'rules', '--no-progress']) == 0\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'xgrammar', 'datasets') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    event = done.stdout.strip().splitlines()[-1]
    assert '"HARM.SPEECH.Hate' in event or "HARM" in event, event
