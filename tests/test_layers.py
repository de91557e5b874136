"""The layer rules hold for the real tree, and the checker catches each kind of violation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.layering import check_tree

REPO = Path(__file__).resolve().parent.parent


def test_the_repository_keeps_its_layers() -> None:
    violations = check_tree(REPO)
    assert violations == [], "\n".join(map(str, violations))


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name in ("api", "videoident", "pipelines", "models", "fixtures"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("rel", "source", "rule"),
    [
        ("pipelines/mrz.py", "from videoident.settings import Settings\n", "pipelines may not import videoident"),
        ("models/ocr.py", "import pipelines.mrz\n", "models may not import pipelines"),
        ("videoident/core.py", "def f():\n    from api import app\n", "videoident may not import api"),
        ("pipelines/face.py", "import face_recognition\n", "ML engines only in models/"),
        ("api/routers/x.py", "from passporteye import read_mrz\n", "ML engines only in models/"),
        ("videoident/sessions.py", "from fixtures.scene import make\n", "fixtures only in tests/bench/demo"),
        ("fixtures/scene.py", "from videoident import db\n", "fixtures may use pipelines/models only"),
    ],
)
def test_a_violation_is_reported(tmp_path: Path, rel: str, source: str, rule: str) -> None:
    root = _tree(tmp_path, {})
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(source)
    violations = check_tree(root)
    assert [v.rule for v in violations] == [rule]
    assert violations[0].path == rel


def test_downward_and_same_layer_imports_are_allowed(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "api/app.py": "from videoident import db\nimport pipelines\nfrom models import face\n",
            "videoident/x.py": "from pipelines import mrz\nfrom videoident import db\n",
            "models/face.py": "import face_recognition\nimport dlib\n",
            "fixtures/scene.py": "from pipelines import mrz\n",
        },
    )
    (root / "api/commands").mkdir()
    (root / "api/commands/fixtures.py").write_text("from fixtures import scene\n")
    assert check_tree(root) == []
