"""The packages depend on each other in one direction: spec <- impl, spec <- compiler,
spec + impl + compiler <- proofs, impl + compiler <- fpga (design-space exploration compiles
the workload); the specification and the compiler never load
Amaranth."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
# What each part may import from vtaref (itself included); vtaref/ (the CLI) may import any.
ALLOWED = {
    "spec": {"spec"},
    "impl": {"spec", "impl"},
    "compiler": {"spec", "compiler"},
    "proofs": {"spec", "impl", "compiler", "proofs"},
    "fpga": {"spec", "impl", "compiler", "fpga"},
}


def _modules(part: str) -> list[str]:
    folder = ROOT / part
    names = []
    for path in sorted(folder.rglob("*.py")):
        relative = path.relative_to(folder).with_suffix("")
        parts = [part, *relative.parts]
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(["vtaref", *parts]))
    return names


def _imported_parts(path: Path, part: str) -> set[tuple[int, str]]:
    """Return (line, part) for every vtaref part the module at ``path`` imports, at any depth."""
    package = [part, *path.relative_to(ROOT / part).parent.parts]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                targets = [".".join(["vtaref", *base, *([node.module] if node.module else [])])]
            else:
                targets = [node.module or ""]
        else:
            continue
        for target in targets:
            pieces = target.split(".")
            if pieces[0] == "vtaref" and len(pieces) > 1:
                found.add((node.lineno, pieces[1]))
    return found


def _wrong_imports(part: str) -> list[str]:
    """Return ``path:line imports vtaref.X`` for every import of ``part`` it may not make."""
    wrong = []
    for path in sorted((ROOT / part).rglob("*.py")):
        for line, imported in sorted(_imported_parts(path, part)):
            if imported not in ALLOWED[part]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports vtaref.{imported}")
    return wrong


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_imports_point_one_way(part):
    # In a fresh interpreter: CPython 3.11's ast module can be left unusable in a process where
    # an earlier test hit its recursion limit ("AST constructor recursion depth mismatch").
    script = ("import json, sys\n"
              f"sys.path.insert(0, {str(ROOT)!r})\n"
              "from tests.test_layering import _wrong_imports\n"
              f"print(json.dumps(_wrong_imports({part!r})))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    wrong = json.loads(result.stdout)
    assert not wrong, "\n".join(wrong)


def test_spec_and_compiler_never_load_amaranth():
    modules = _modules("spec") + _modules("compiler")
    script = ("import importlib, json, sys\n"
              f"for name in {modules!r}:\n"
              "    importlib.import_module(name)\n"
              "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'amaranth')))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert json.loads(result.stdout) == []
    assert len(modules) > 20  # the walk found the packages
