"""PostgreSQL restarted (pg_ctl restart -m fast) while participants submit maps to gunicorn.

The participants follow the painter's policy (static/annotations/js/painter/submit.js): a 5xx, a
429 or a network error is retried after 1, 2, 4 and 8 s with the same idempotency key.
Every map must be stored exactly once and every participant must finish. Page loads that
fail are retried the same way (a participant reloading the page); a consent POST whose
redirects fail is sent again (Back and "I agree" again), which must resume, not lock out.

The restart is placed by gates, not by timing: half the participants hold after opening the
study link (they consent while PostgreSQL restarts), the others after their first map (they
submit the rest during and after it). Every wait is bounded."""

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
GATE_TIMEOUT_S = 300  # a loaded 2-core machine: starting gunicorn and 4 sessions can take minutes
CONFIG = re.compile(r'<script id="trial-config" type="application/json">(.*?)</script>', re.S)

SETUP = """
from study.models import Study
from tests.conftest import gradient_image_set
image_set = gradient_image_set("load", 4)
Study.objects.create(slug="load", title="Load", image_set=image_set, trials_per_participant=4)
"""


class Participant(threading.Thread):
    """One participant; holds at ``hold_at`` ("consent" or "second map") until ``go`` is set."""

    def __init__(self, base_url: str, pid: str, log: list, *, hold_at: str, go: threading.Event):
        super().__init__(daemon=True)
        self.base_url, self.pid, self.log = base_url, pid, log
        self.hold_at, self.go = hold_at, go
        self.holding = threading.Event()
        self.session = requests.Session()
        self.submitted: list[int] = []
        self.error = None

    def hold(self, where: str) -> None:
        if where == self.hold_at:
            self.holding.set()
            if not self.go.wait(GATE_TIMEOUT_S):
                raise AssertionError(f"{self.pid} was never let go at {where}")

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
        finally:
            self.holding.set()  # a participant that failed early holds no one up

    def take_part(self):
        self.request("GET", "/s/load/", params={"PROLIFIC_PID": self.pid})
        self.hold("consent")
        consent = {"decision": "accept", "recruiter_ids": f"PROLIFIC_PID={self.pid}"}
        entered = self.request("POST", "/s/load/consent", data=consent, headers=self.csrf())
        entry = re.search(r"/p/([^/]+)/", entered.url)
        assert entry, f"consent answered {entered.status_code} at {entered.url}: {entered.text[:300]}"
        code = entry.group(1)
        self.request("POST", f"/p/{code}/instructions", headers=self.csrf())
        while True:
            if len(self.submitted) == 1:
                self.hold("second map")
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


def _serve(private_postgres, processes, tmp_path) -> str:
    """gunicorn (2 processes x 2 threads) on the private PostgreSQL with the load study; its URL."""
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

    wait_until(healthy, timeout=240, what="gunicorn")
    assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
    return base_url


@pytest.mark.worker
def test_a_consent_whose_redirect_failed_in_a_restart_resumes(private_postgres, processes, tmp_path):
    """The CI failure, step by step: the consent POST committed the participant, PostgreSQL
    went away before the next page loaded, and the consent was sent again (the retry policy;
    in a browser, Back and "I agree" again). It must lead to the same participant, not to the
    409 "already took part" page (locked out) nor to a second participant (their place lost)."""
    base_url = _serve(private_postgres, processes, tmp_path)
    session = requests.Session()
    session.get(f"{base_url}/s/load/", params={"PROLIFIC_PID": "restart-1"}, timeout=60).raise_for_status()
    consent = {"decision": "accept", "recruiter_ids": "PROLIFIC_PID=restart-1"}
    headers = {"X-CSRFToken": session.cookies["csrftoken"]}
    entered = session.post(
        f"{base_url}/s/load/consent", data=consent, headers=headers, allow_redirects=False, timeout=60
    )
    assert entered.status_code == 302 and entered.headers["Location"].startswith("/p/"), entered.text[:300]
    private_postgres.stop_server()
    try:
        assert session.get(base_url + entered.headers["Location"], timeout=60).status_code >= 500
    finally:
        private_postgres.start_server()
    again = session.post(f"{base_url}/s/load/consent", data=consent, headers=headers, timeout=60)
    if again.status_code >= 500:  # the first request on a connection broken by the restart
        again = session.post(f"{base_url}/s/load/consent", data=consent, headers=headers, timeout=60)
    assert again.status_code == 200 and again.url.startswith(base_url + entered.headers["Location"]), (
        again.status_code,
        again.url,
        again.text[:300],
    )
    assert _query(private_postgres.url, "SELECT prolific_pid FROM study_participant") == [("restart-1",)]


@pytest.mark.worker
def test_a_postgresql_restart_during_submissions_loses_no_map(private_postgres, processes, tmp_path):
    base_url = _serve(private_postgres, processes, tmp_path)

    failures: list = []
    go = threading.Event()
    participants = [
        Participant(base_url, f"load-{i}", failures, hold_at=("consent", "second map")[i % 2], go=go)
        for i in range(PARTICIPANTS)
    ]
    for participant in participants:
        participant.start()
    try:
        wait_until(
            lambda: all(p.holding.is_set() for p in participants), timeout=GATE_TIMEOUT_S, what="the gates"
        )
        assert [p.error for p in participants] == [None] * PARTICIPANTS
        assert [len(p.submitted) for p in participants] == [0, 1] * (PARTICIPANTS // 2)  # mid-load
        restart_began = time.monotonic()
        go.set()  # consents and maps go out while PostgreSQL restarts
        private_postgres.restart()
    finally:
        go.set()
    restart_s = time.monotonic() - restart_began
    for participant in participants:
        participant.join(timeout=GATE_TIMEOUT_S)
    assert not [p.pid for p in participants if p.is_alive()], "participants still running"

    assert [p.error for p in participants] == [None] * PARTICIPANTS
    during = [f for f in failures if f[0] >= restart_began - 1]
    last_failure_s = max((f[0] for f in failures), default=restart_began) - restart_began
    print(
        f"\nPostgreSQL restart took {restart_s:.1f} s; {len(failures)} request(s) failed and were "
        f"retried ({sorted({f[4] for f in failures})}), the last {last_failure_s:.1f} s after it began; "
        f"failed: {sorted({(f[2], re.sub(r'/p/[^/]+/', '/p/CODE/', f[3])) for f in failures})}"
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
