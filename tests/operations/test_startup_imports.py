"""Management commands that run no model start without torch, numba or matplotlib: setting
Django up imports every admin module (the corruption variants' admin once pulled in
scipy.signal and numba), and the system checks import every view (matplotlib, the API's
schema code). import_images and export_agreement run here for real, in a fresh process on the
test database, and what they imported is read from sys.modules afterwards."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class

from catalogue.models import ImageSet
from tests.conftest import _database_url_for_subprocess, gradient_image

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "numba", "matplotlib")
# Commands that never run a model nor make corrupted images: none may import torch or numba.
LIGHT_COMMANDS = (
    "import_images",
    "export_agreement",
    "export_images",
    "export_participants",
    "export_study",
    "compute_maps",
    "make_thumbnails",
    "api_token",
)

RUN_COMMANDS = """
import json, sys
import django
from django.core.management import execute_from_command_line

django.setup()
after_setup = {name: name in sys.modules for name in HEAVY}
for argv in COMMANDS:
    execute_from_command_line(["manage.py", *argv])
after_commands = {name: name in sys.modules for name in HEAVY}
print(json.dumps({"after_setup": after_setup, "after_commands": after_commands}))
"""

LOAD_COMMANDS = """
import json, sys
import django
from django.core.management import get_commands, load_command_class

django.setup()
for name in COMMANDS:
    load_command_class(get_commands()[name], name)
print(json.dumps({name: name in sys.modules for name in HEAVY}))
"""


def _python(code: str, tmp_path, **substitutions) -> dict:
    for name, value in substitutions.items():
        code = code.replace(name, repr(value))
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings",
        DATA_DIR=str(tmp_path),
        DATABASE_URL=_database_url_for_subprocess(),
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.django_db(transaction=True)
def test_import_images_and_export_agreement_run_without_torch_numba_or_matplotlib(tmp_path, study):
    folder = tmp_path / "two"
    folder.mkdir()
    for index in range(2):
        (folder / f"small{index}.png").write_bytes(gradient_image(seed=index))
    commands = [
        ["import_images", str(folder), "--set", "two small images"],
        ["export_agreement", "--study", study.slug, "-o", str(tmp_path / "agreement.csv")],
    ]
    imported = _python(RUN_COMMANDS, tmp_path, HEAVY=HEAVY, COMMANDS=commands)
    assert imported == {
        "after_setup": dict.fromkeys(HEAVY, False),
        "after_commands": dict.fromkeys(HEAVY, False),
    }
    # they did their work
    assert ImageSet.objects.get(name="two small images").images.count() == 2
    assert (tmp_path / "agreement.csv").read_text().startswith("study,")


@pytest.mark.django_db(transaction=True)
def test_loading_the_light_commands_imports_neither_torch_nor_numba(tmp_path):
    assert set(LIGHT_COMMANDS) <= set(get_commands())
    imported = _python(LOAD_COMMANDS, tmp_path, HEAVY=HEAVY, COMMANDS=LIGHT_COMMANDS)
    assert imported["torch"] is False and imported["numba"] is False


def test_the_data_commands_skip_the_system_checks_that_import_every_view():
    for name in ("import_images", "export_agreement", "export_images", "export_participants", "export_study"):
        assert load_command_class(get_commands()[name], name).requires_system_checks == [], name


def test_the_variants_form_offers_every_corruption_and_imagenet_c_severity():
    # the admin's form lists them without importing the corruptions at start-up
    from catalogue import corruptions
    from catalogue.variants import DEFAULT_CORRUPTIONS
    from catalogue.variants_admin import SEVERITIES, VariantsForm

    form = VariantsForm()
    assert [value for value, _ in form.fields["corruptions"].choices] == list(corruptions.CORRUPTIONS)
    assert form["corruptions"].initial == list(DEFAULT_CORRUPTIONS)
    assert SEVERITIES == corruptions.SEVERITIES
