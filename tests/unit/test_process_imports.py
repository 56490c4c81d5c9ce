"""Each process imports what it needs: the delivery process no Flask, and only the web
side (bridge/web/, the console and interaction blueprints, and the app factory and `serve`
that build it) imports bridge/web/."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "bridge"
# The modules that build the web process may import its blueprints.
WEB_BUILDERS = {"bridge.app", "bridge.serve"}
# Blueprints of the web side outside bridge/web/: they run in the web process only
# (the rest of bridge/interact/ is pure: button values, signatures, plans).
WEB_SIDE = ("bridge.web", "bridge.console", "bridge.interact.web")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of the file (lazy imports included)."""
    found: set[str] = set()
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], base])
            found.add(base.strip("."))
            found.update(f"{base}.{alias.name}".strip(".") for alias in node.names)
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def closure(start: str) -> set[str]:
    """The bridge modules `start` imports, transitively."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in MODULES:
            continue
        seen.add(name)
        todo.extend(imports_of(MODULES[name]))
    return seen


def test_the_delivery_process_imports_no_flask_and_nothing_of_the_web_side() -> None:
    delivery = closure("bridge.delivery_process")
    assert "bridge.runtime" in delivery and "bridge.scheduler" in delivery  # the walk sees them
    for name in sorted(delivery):
        external = {i.split(".")[0] for i in imports_of(MODULES[name])}
        assert "flask" not in external, f"{name} imports flask"
        assert "werkzeug" not in external, f"{name} imports werkzeug"
        assert not name.startswith(WEB_SIDE), f"the delivery process reaches {name}"


def test_nothing_outside_the_web_side_imports_from_it() -> None:
    offenders = {
        name: sorted(i for i in imports_of(path) if i.startswith("bridge.web"))
        for name, path in MODULES.items()
        if not name.startswith(WEB_SIDE) and name not in WEB_BUILDERS
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_importing_the_delivery_side_for_real_loads_no_flask() -> None:
    modules = sorted(closure("bridge.delivery_process"))
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('flask' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_messages_and_interaction_handlers_share_a_vocabulary_not_each_other() -> None:
    """notify/ builds buttons and interact/ reads clicks through bridge/vocabulary.py, which
    imports neither: no module of notify/ reaches interact/ (issue 22's import circle)."""
    assert not {m for m in closure("bridge.vocabulary") if m != "bridge.vocabulary"}
    for name in MODULES:
        if name.startswith("bridge.notify"):
            reached = {m for m in closure(name) if m.startswith("bridge.interact")}
            assert not reached, (name, reached)
