"""The architecture guards itself: the apps import each other one way only, and the science
code (analysis/, explain/saliency/) never imports Django. The contracts are in
pyproject.toml ([tool.importlinter]); import-linter reads every import, module level or
inside a function."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_hold():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports"))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout
