"""The import rules of the layers, checked on source text (no import is executed).

``api -> videoident -> pipelines -> models``: a package may import its own layer or lower ones only.
Only ``models`` may import the ML engines. ``fixtures`` (synthetic test data) may be imported by tests,
by itself, and by the CLI commands that exist to serve it (``api/commands/fixtures*.py``, ``bench``,
the demo), never by the service's own code paths.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

LAYER_RANK = {"models": 0, "pipelines": 1, "videoident": 2, "api": 3}
ENGINE_MODULES = frozenset({"face_recognition", "dlib", "pytesseract", "passporteye", "face_recognition_models"})
#: Files allowed to import ``fixtures``, as paths relative to the repository root (glob patterns).
FIXTURE_USERS = (
    "api/commands/fixtures*.py",
    "api/commands/bench*.py",
    "api/benchmarks/*.py",
    "api/commands/demo*.py",
    "api/demo*.py",
)


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.imported} ({self.rule})"


def _imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    names: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append((node.lineno, node.module))
    return names


def check_tree(root: Path) -> list[Violation]:
    """Every import in the layer packages under ``root`` that breaks a rule."""
    violations: list[Violation] = []
    for package in (*LAYER_RANK, "fixtures"):
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            tree = ast.parse(path.read_text(), filename=str(rel))
            for line, name in _imported_names(tree):
                top = name.split(".")[0]
                if top in ENGINE_MODULES and package != "models":
                    violations.append(Violation(str(rel), line, name, "ML engines only in models/"))
                if package in LAYER_RANK and top in LAYER_RANK and LAYER_RANK[top] > LAYER_RANK[package]:
                    violations.append(Violation(str(rel), line, name, f"{package} may not import {top}"))
                if top == "fixtures" and package != "fixtures" and not any(
                    rel.match(pattern) for pattern in FIXTURE_USERS
                ):
                    violations.append(Violation(str(rel), line, name, "fixtures only in tests/bench/demo"))
                if package == "fixtures" and top in ("videoident", "api"):
                    violations.append(Violation(str(rel), line, name, "fixtures may use pipelines/models only"))
    return violations
