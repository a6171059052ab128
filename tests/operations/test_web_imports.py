"""The web processes never run a model, so loading the app must not import torch (about
2.5 s and 430 MB of private memory per gunicorn worker): only the worker and the admin's
"Test load" need it, and they import it when they use it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LOAD_THE_WEB_APP = """
import sys
from config import wsgi  # django.setup(), every app and model
import django.urls
from django.contrib import admin

django.urls.get_resolver().url_patterns  # every view module
admin.site.get_urls()  # every admin module
import analysis.batch_scores, analysis.pipeline, research.scores  # what the results page scores with
from types import SimpleNamespace
import numpy as np
from analysis import emd
from research.exports import model_preprocessing

# an EMD (POT is imported at the first one) and the stated preprocessing of a spec that
# leaves its mean and std empty, as exports and the API state it
emd.transport_cost(np.array([0.5, 0.5]), np.array([0.2, 0.8]), emd.ground_distance((1, 2)))
model_preprocessing(SimpleNamespace(mean=[], std=[], source="torchvision", input_size=224))
print("torch" in sys.modules, "explain.services" in sys.modules)
"""


def test_loading_the_web_app_does_not_import_torch(tmp_path):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings", DATA_DIR=str(tmp_path))
    env.pop("POT_BACKEND_DISABLE_PYTORCH", None)  # the app must set what it needs itself
    result = subprocess.run(
        [sys.executable, "-c", LOAD_THE_WEB_APP],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    torch_loaded, services_loaded = result.stdout.split()
    assert services_loaded == "True"  # the views that queue compute jobs were loaded ...
    assert torch_loaded == "False"  # ... without torch
