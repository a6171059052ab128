"""PostgreSQL restarted (pg_ctl restart -m fast) while participants submit maps to gunicorn.

The participants follow the painter's policy (static/annotations/js/painter/submit.js): a 5xx, a
429 or a network error is retried after 1, 2, 4 and 8 s with the same idempotency key.
Every map must be stored exactly once and every participant must finish. Page loads that
fail are retried the same way (a participant reloading the page)."""

import html
import io
import json
import re
import sys
import threading
import time

import numpy as np
import pytest
import requests
from PIL import Image as PILImage

from tests.faults.conftest import django_env, free_port, run_manage, wait_until

RETRY_DELAYS_S = [1, 2, 4, 8]  # painter/submit.js RETRY_DELAYS_MS
PARTICIPANTS = 4
TRIALS = 4
CONFIG = re.compile(r'<script id="trial-config" type="application/json">(.*?)</script>', re.S)

SETUP = """
from study.models import Study
from tests.conftest import gradient_image_set
image_set = gradient_image_set("load", 4)
Study.objects.create(slug="load", title="Load", image_set=image_set, trials_per_participant=4)
"""


class Participant(threading.Thread):
    def __init__(self, base_url: str, pid: str, log: list):
        super().__init__(daemon=True)
        self.base_url, self.pid, self.log = base_url, pid, log
        self.session = requests.Session()
        self.submitted: list[int] = []
        self.error = None

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        """One request with the painter's retries; each failed attempt is logged."""
        for attempt in range(len(RETRY_DELAYS_S) + 1):
            try:
                response = self.session.request(method, self.base_url + path, timeout=30, **kwargs)
                if response.status_code < 500 and response.status_code != 429:
                    return response
                failure = f"HTTP {response.status_code}"
            except requests.ConnectionError as error:
                failure = type(error).__name__
            self.log.append((time.monotonic(), self.pid, method, path, failure))
            if attempt == len(RETRY_DELAYS_S):
                raise AssertionError(f"{method} {path} still failing after every retry: {failure}")
            time.sleep(RETRY_DELAYS_S[attempt])

    def csrf(self) -> dict:
        return {"X-CSRFToken": self.session.cookies["csrftoken"]}

    def run(self):
        try:
            self.take_part()
        except Exception as error:  # noqa: BLE001 - reported by the test
            self.error = error

    def take_part(self):
        self.request("GET", "/s/load/", params={"PROLIFIC_PID": self.pid})
        consent = {"decision": "accept", "recruiter_ids": f"PROLIFIC_PID={self.pid}"}
        entered = self.request("POST", "/s/load/consent", data=consent, headers=self.csrf())
        code = re.search(r"/p/([^/]+)/", entered.url).group(1)
        self.request("POST", f"/p/{code}/instructions", headers=self.csrf())
        while True:
            page = self.request("GET", f"/p/{code}/")
            match = CONFIG.search(page.text)
            if not match:
                assert page.url.endswith(f"/p/{code}/done"), page.url
                return
            config = json.loads(html.unescape(match.group(1)))
            answer = self.request(
                "POST",
                config["submitUrl"],
                files={"map": ("map.png", _painted_png(config["width"], config["height"]), "image/png")},
                data={"strokes": "[]", "idempotency_key": f"{self.pid}-{config['trialId']}"},
                headers={**self.csrf(), "Accept": "application/json"},
            )
            assert answer.status_code == 200, answer.text
            self.submitted.append(config["trialId"])


def _painted_png(width: int, height: int) -> bytes:
    values = np.zeros((height, width), dtype=np.uint8)
    values[height // 4 : height // 2, width // 4 : width // 2] = 180
    buffer = io.BytesIO()
    PILImage.fromarray(values).save(buffer, format="PNG")
    return buffer.getvalue()


def _query(url: str, sql: str):
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://")) as connection:
        return connection.execute(sql).fetchall()


@pytest.mark.worker
def test_a_postgresql_restart_during_submissions_loses_no_map(private_postgres, processes, tmp_path):
    env = django_env(
        DATABASE_URL=private_postgres.url,
        DATA_DIR=str(tmp_path / "data"),
        MEDIA_ROOT=str(tmp_path / "media"),
        RATE_LIMIT_STARTS_PER_MINUTE="0",
        RATE_LIMIT_SUBMISSIONS_PER_MINUTE="0",
    )
    run_manage("migrate", "--noinput", env=env, timeout=300)
    run_manage("shell", "-c", SETUP, env=env)
    port = free_port()
    gunicorn = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"]
    gunicorn += ["--workers", "2", "--threads", "2", "--timeout", "60"]
    server = processes.start(gunicorn, log_path=tmp_path / "gunicorn.log", env=env)
    base_url = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            return requests.get(f"{base_url}/healthz", timeout=60).status_code == 200
        except requests.ConnectionError:
            return server.poll() is not None  # died: stop waiting, the assert below says so

    wait_until(healthy, timeout=90, what="gunicorn")
    assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()

    failures: list = []
    participants = [Participant(base_url, f"load-{index}", failures) for index in range(PARTICIPANTS)]
    for participant in participants:
        participant.start()
    wait_until(lambda: sum(len(p.submitted) for p in participants) >= 3, timeout=120, what="first maps")
    restart_began = time.monotonic()
    assert sum(len(p.submitted) for p in participants) < PARTICIPANTS * TRIALS  # mid-load
    private_postgres.restart()
    restart_s = time.monotonic() - restart_began
    for participant in participants:
        participant.join(timeout=180)

    assert [p.error for p in participants] == [None] * PARTICIPANTS
    during = [f for f in failures if f[0] >= restart_began - 1]
    last_failure_s = max((f[0] for f in failures), default=restart_began) - restart_began
    print(
        f"\nPostgreSQL restart took {restart_s:.1f} s; {len(failures)} request(s) failed and were "
        f"retried ({sorted({f[4] for f in failures})}), the last {last_failure_s:.1f} s after it began"
    )
    assert during == failures  # every failure came with the restart, none before it
    rows = _query(
        private_postgres.url,
        "SELECT count(*), count(DISTINCT a.trial_id) FROM annotations_annotation a",
    )
    assert rows == [(PARTICIPANTS * TRIALS, PARTICIPANTS * TRIALS)]
    assert _query(private_postgres.url, "SELECT status, count(*) FROM study_trial GROUP BY status") == [
        ("done", PARTICIPANTS * TRIALS)
    ]
    assert _query(
        private_postgres.url, "SELECT count(*) FROM study_participant WHERE finished_at IS NOT NULL"
    ) == [(PARTICIPANTS,)]
    submitted = sorted(trial for p in participants for trial in p.submitted)
    assert submitted == sorted(
        row[0] for row in _query(private_postgres.url, "SELECT trial_id FROM annotations_annotation")
    )
