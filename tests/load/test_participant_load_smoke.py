"""The participant load test, small: 5 simulated participants x 3 maps through a real gunicorn,
on PostgreSQL when the tests run on it (CI), else on SQLite. It checks what the load test
promises (nothing refused, lost or duplicated), never timing."""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[2]
PARTICIPANTS, MAPS = 5, 3


def load_test_database_url(tmp_path: Path) -> str:
    """A database of the script's own (it creates and drops it), on the tests' server."""
    configured = urlparse(os.environ.get("DATABASE_URL", ""))
    if configured.scheme in ("postgres", "postgresql"):
        return configured._replace(path=f"/load_smoke_{os.getpid()}").geturl()
    return f"sqlite:///{tmp_path / 'load.sqlite3'}"


def test_participants_submit_every_map_once_through_gunicorn(tmp_path):
    figures_path = tmp_path / "figures.json"
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.participant_load",
            "--participants",
            str(PARTICIPANTS),
            "--maps",
            str(MAPS),
            "--gunicorn-workers",
            "2",
            "--database-url",
            load_test_database_url(tmp_path),
            "--timeout",
            "120",
            "--json",
            str(figures_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    figures = json.loads(figures_path.read_text())

    assert figures["errors"] == 0, figures["error_samples"]
    assert figures["lost"] == 0
    assert figures["duplicates"] == 0
    assert figures["submits"] == PARTICIPANTS * MAPS
    assert figures["finished_pages"] == PARTICIPANTS  # everyone reached the completion page
    stored = figures["database_checks"]
    assert stored["participants"] == stored["participants_finished"] == PARTICIPANTS
    assert stored["annotations"] == PARTICIPANTS * MAPS
    assert stored["trials_not_done"] == 0
    assert stored["acknowledged_but_not_stored"] == 0
    assert stored["duplicate_idempotency_keys"] == 0
