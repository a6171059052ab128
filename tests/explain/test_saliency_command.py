import io

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalogue.demo_data import demo_image_path

COFFEE = str(demo_image_path("skimage:coffee.png"))


def test_it_writes_a_map_for_the_predicted_class(db, tmp_path):
    out = tmp_path / "coffee.npy"
    stdout = io.StringIO()
    call_command(
        "saliency", COFFEE, method="integrated_gradients", param=["steps=4"], output=str(out), stdout=stdout
    )
    values = np.load(out)
    assert values.shape == (224, 224) and np.isfinite(values).all() and values.max() > 0
    assert "explained class 967 (espresso)" in stdout.getvalue()
    assert "completeness gap" in stdout.getvalue()


def test_it_writes_an_overlay_png_for_a_given_class_and_baseline(db, tmp_path):
    out = tmp_path / "coffee.png"
    stdout = io.StringIO()
    call_command(
        "saliency",
        COFFEE,
        method="integrated_gradients",
        target="504",
        param=["steps=4", "baseline=black_white"],
        output=str(out),
        stdout=stdout,
    )
    assert out.read_bytes().startswith(b"\x89PNG")
    assert "explained class 504 (coffee mug)" in stdout.getvalue()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"method": "xrai", "param": ["stepz=3"]}, "unknown parameters for xrai: stepz"),
        ({"method": "xrai", "target": "5000"}, "between 0 and 999"),
        ({"method": "xrai", "model": "nope"}, "no model named 'nope'"),
        ({"method": "xrai", "output": "out.txt"}, "must end in .npy or .png"),
    ],
)
def test_bad_arguments_are_clear_errors(db, tmp_path, arguments, message):
    options = {"output": str(tmp_path / "out.npy"), **arguments}
    if options["output"] == "out.txt":
        options["output"] = str(tmp_path / "out.txt")
    with pytest.raises(CommandError, match=message):
        call_command("saliency", COFFEE, **options)


def test_an_unreadable_image_is_a_clear_error(db, tmp_path):
    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello")
    with pytest.raises(CommandError, match="cannot read image"):
        call_command("saliency", str(bad), method="xrai", output=str(tmp_path / "x.npy"))
