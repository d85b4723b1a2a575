"""The layers contract (pyproject.toml, run by scripts/lint) holds today and breaks on a wrong-way import."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "pyproject.toml"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_of_the_code(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "distribution", tmp_path / "distribution", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_layers_hold(tmp_path):
    result = lint_imports(copy_of_the_code(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    tree = copy_of_the_code(tmp_path)
    pipeline = tree / "distribution" / "publishing" / "pipeline.py"
    pipeline.write_text(pipeline.read_text() + "\nfrom distribution.jobs import runner  # noqa: E402, F401\n")
    result = lint_imports(tree)
    assert result.returncode == 1
    assert "distribution.publishing.pipeline -> distribution.jobs.runner" in result.stdout
