import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Idle OpenMP threads spin on a small shared machine and slow torch 10-30x.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = Celery("saliency_study")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
