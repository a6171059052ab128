"""Private servers and processes for the fault tests: a Redis, a PostgreSQL, Celery workers
and gunicorn that the tests may kill and restart (never the machine's shared ones). Every
process is started in its own process group and killed at teardown, also when a test fails."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import _database_url_for_subprocess

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_tool(path: str) -> str:
    """The tool's path; the test fails (not skips) without it."""
    found = shutil.which(path) or (path if os.access(path, os.X_OK) else None)
    if not found:
        pytest.fail(f"{path} is needed for this fault test and is not installed")
    return found


def wait_until(condition, *, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


class Processes:
    """Started processes, each the leader of its own group: kill() takes its children too."""

    def __init__(self):
        self.started: list[subprocess.Popen] = []

    def start(self, args, *, log_path: Path, env: dict, cwd=None) -> subprocess.Popen:
        with open(log_path, "a") as log:
            process = subprocess.Popen(
                args,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd or settings.BASE_DIR,
                start_new_session=True,
            )
        process.log_path = log_path
        self.started.append(process)
        return process

    @staticmethod
    def kill(process: subprocess.Popen, sig=signal.SIGKILL) -> None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def stop_all(self) -> None:
        for process in reversed(self.started):
            self.kill(process, signal.SIGTERM if process.poll() is None else signal.SIGKILL)


@pytest.fixture
def processes():
    started = Processes()
    yield started
    started.stop_all()


class PrivateRedis:
    def __init__(self, processes: Processes, directory: Path):
        self.binary = require_tool("redis-server")
        self.processes, self.directory = processes, directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.directory)]
        self.process = self.processes.start(args, log_path=self.directory / "redis.log", env=dict(os.environ))
        wait_until(self.ping, timeout=20, what="the private Redis")

    def ping(self) -> bool:
        import redis

        try:
            return redis.Redis.from_url(self.url, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5)

    def restart(self) -> None:
        """Stop (nothing is persisted: every queued message is gone) and start again."""
        self.processes.kill(self.process, signal.SIGTERM)
        self.start()


@pytest.fixture
def private_redis(processes, tmp_path):
    redis_server = PrivateRedis(processes, tmp_path)
    redis_server.start()
    return redis_server


def django_env(**extra) -> dict:
    """The environment of a subprocess of the app on the test database."""
    return {
        **os.environ,
        "DATABASE_URL": _database_url_for_subprocess(),
        "OMP_WAIT_POLICY": "PASSIVE",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def start_worker(processes: Processes, log_path: Path, env: dict, name: str) -> subprocess.Popen:
    """A real Celery worker (prefork, one pool process) on this run's queue; returns once ready."""
    args = [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency", "1"]
    args += ["--loglevel", "INFO", "--queues", settings.CELERY_TASK_DEFAULT_QUEUE]
    args += ["--without-gossip", "--without-mingle", "--hostname", f"{name}-{os.getpid()}@%h"]
    worker = processes.start(args, log_path=log_path, env=env)
    wait_until(
        lambda: worker.poll() is not None or "ready." in log_path.read_text(),
        timeout=120,
        what=f"worker {name}",
    )
    if worker.poll() is not None:
        pytest.fail(f"the Celery worker did not start:\n{log_path.read_text()}")
    return worker


def pool_children(pid: int) -> list[int]:
    """The worker's pool processes (its direct children)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def run_manage(*args, env: dict, timeout: float = 180) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


class PrivatePostgres:
    """A throwaway PostgreSQL 15 cluster run as the postgres user (initdb refuses root)."""

    def __init__(self):
        for tool in ("initdb", "pg_ctl"):
            require_tool(str(PG_BIN / tool))
        require_tool("runuser")
        self.directory = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        shutil.chown(self.directory, "postgres", "postgres")
        self.data = self.directory / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args, timeout=120) -> None:
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            pytest.fail(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")

    def _pg_ctl(self, action: str, *options: str) -> None:
        server_options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), action, "-D", str(self.data), "-w", "-t", "60",
            "-l", str(self.directory / "server.log"), "-o", server_options, *options,
        )  # fmt: skip

    def start(self) -> None:
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N")
        self._pg_ctl("start")

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def stop_server(self) -> None:
        """Stop it, keeping its data (start_server brings it back)."""
        self._pg_ctl("stop", "-m", "fast")

    def start_server(self) -> None:
        self._pg_ctl("start")

    def stop(self) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data)]
            + ["-m", "immediate", "-w"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def private_postgres():
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.stop()
