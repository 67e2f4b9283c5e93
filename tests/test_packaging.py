"""Packaging stays in step with the tree: every package is listed, layers import downward."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_python_package_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for top in ("jbdiff", "server", "training"):
        for init in (ROOT / top).rglob("__init__.py"):
            found.add(".".join(init.parent.relative_to(ROOT).parts))
    missing = found - listed
    assert not missing, f"add these to [tool.setuptools].packages in pyproject.toml: {sorted(missing)}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_model_library_imports_no_server_or_training() -> None:
    offenders = []
    for path in (ROOT / "jbdiff").rglob("*.py"):
        bad = _imports(path) & {"server", "training"}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, offenders


def test_training_does_not_import_server() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "training").rglob("*.py") if "server" in _imports(p)]
    assert not offenders, offenders


def test_no_torchaudio_anywhere_in_the_product() -> None:
    offenders = []
    for top in ("jbdiff", "server", "training"):
        for path in (ROOT / top).rglob("*.py"):
            if "torchaudio" in _imports(path):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders
