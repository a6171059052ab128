"""The code version recorded with every result: the git commit the process runs."""

import subprocess
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)  # the code a process runs does not change under it: one git call
def code_version() -> str:
    """The short commit hash of this checkout, or "unknown" outside git."""
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=Path(__file__).resolve().parent.parent,
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
