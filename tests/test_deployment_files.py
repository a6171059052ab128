"""There is no Docker engine here: check the compose file's structure instead."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_web_worker_database_and_redis():
    assert set(_compose()["services"]) == {"web", "worker", "db", "redis"}


def test_the_web_service_runs_gunicorn_after_migrating():
    command = _compose()["services"]["web"]["command"]
    assert "migrate" in command and "gunicorn config.wsgi" in command


def test_the_worker_runs_celery_with_a_gpu_reservation():
    worker = _compose()["services"]["worker"]
    assert worker["command"].startswith("celery -A config worker")
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]


def test_web_and_worker_use_postgres_and_redis():
    services = _compose()["services"]
    for name in ("web", "worker"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert environment["CELERY_BROKER_URL"].startswith("redis://redis:6379")
    assert services["db"]["image"].startswith("postgres:")


def test_the_dockerfile_installs_the_pinned_requirements_on_python_311():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11" in dockerfile and "pip install --no-cache-dir -r requirements.txt" in dockerfile
