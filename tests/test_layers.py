"""The layer rules of STYLE.md, checked by parsing every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> top-level modules it must never import
FORBIDDEN = {
    "engine": {"flask", "flask_login", "marshmallow", "webui", "integrations", "werkzeug"},
    "webui": {"SpiffWorkflow"},
    "integrations": {"webui", "flask", "SpiffWorkflow"},
}
SPIFF_ONLY_IN = "engine/workflow/"
ENV_READERS = {"engine/cli.py"}  # engine modules that may read os.environ (the CLI is an entry point)


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_forbidden_imports(package: str) -> None:
    offences = []
    for path in _modules(package):
        rel = path.relative_to(ROOT).as_posix()
        for name in _imports(path):
            top = name.split(".")[0]
            if top in FORBIDDEN[package]:
                offences.append(f"{rel} imports {name}")
            if top == "SpiffWorkflow" and package == "engine" and not rel.startswith(SPIFF_ONLY_IN):
                offences.append(f"{rel} imports {name} (SpiffWorkflow belongs in {SPIFF_ONLY_IN})")
    assert offences == []


def _reads_environment(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "environb"}
        for node in ast.walk(tree)
    )


def test_engine_reads_no_environment_variables() -> None:
    offences = [
        path.relative_to(ROOT).as_posix()
        for path in _modules("engine")
        if _reads_environment(path) and path.relative_to(ROOT).as_posix() not in ENV_READERS
    ]
    assert offences == []
