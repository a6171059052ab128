"""Static files as a deployment serves them (after collectstatic): compressed for browsers that
accept it; and a favicon at /favicon.ico."""

import gzip
import io
import os
from pathlib import Path

import brotli
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from PIL import Image as PILImage

ROOT = Path(settings.BASE_DIR)
PAINTER_JS = "annotations/js/painter/painter.js"
# Other apps' files (the admin, Swagger UI) are left out: the project's own are enough here.
OTHER_APPS = ["admin", "rest_framework", "drf_spectacular_sidecar"]


@pytest.fixture
def collected(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", interactive=False, verbosity=0, ignore_patterns=OTHER_APPS)
    return settings.STATIC_ROOT


@pytest.mark.django_db
@pytest.mark.parametrize(
    "accept, encoding, decode",
    [("gzip, deflate, br, zstd", "br", brotli.decompress), ("gzip, deflate", "gzip", gzip.decompress)],
)
def test_scripts_and_styles_are_sent_compressed_to_a_browser_that_accepts_it(
    collected, accept, encoding, decode
):
    client = Client()  # its WhiteNoise reads STATIC_ROOT when it starts
    for name in (PAINTER_JS, "annotations/css/painter.css", "study/css/base.css"):
        original = (ROOT / "static" / name).read_bytes()
        response = client.get(f"/static/{name}", HTTP_ACCEPT_ENCODING=accept)
        assert response.status_code == 200
        assert response["Content-Encoding"] == encoding
        assert "Accept-Encoding" in response["Vary"]
        body = b"".join(response.streaming_content)
        assert decode(body) == original
        assert len(body) < 0.6 * len(original), name

    plain = client.get(f"/static/{PAINTER_JS}")  # no Accept-Encoding: the file as it is
    assert "Content-Encoding" not in plain
    assert b"".join(plain.streaming_content) == (ROOT / "static" / PAINTER_JS).read_bytes()


@pytest.mark.django_db
def test_collectstatic_compresses_again_only_what_changed(collected):
    compressed = collected / (PAINTER_JS + ".br")
    stamp = compressed.stat().st_mtime_ns
    source = collected / PAINTER_JS
    assert os.stat(source).st_mtime == os.stat(compressed).st_mtime  # WhiteNoise copies the time
    out = io.StringIO()
    call_command("collectstatic", interactive=False, ignore_patterns=OTHER_APPS, stdout=out)
    assert compressed.stat().st_mtime_ns == stamp
    assert "0 static files copied" in out.getvalue()
    # A changed file is copied anew by collectstatic, so its .br/.gz are made again.
    os.utime(source, (1, 1))
    call_command("collectstatic", interactive=False, verbosity=0, ignore_patterns=OTHER_APPS)
    assert compressed.stat().st_mtime_ns != stamp
    assert brotli.decompress(compressed.read_bytes()) == (ROOT / "static" / PAINTER_JS).read_bytes()


@pytest.mark.django_db
def test_favicon_ico_is_an_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    icon = PILImage.open(io.BytesIO(b"".join(response.streaming_content)))
    assert icon.format == "ICO" and (32, 32) in icon.info["sizes"]


def test_pages_link_the_svg_icon(client, collected, study):
    page = client.get(f"/s/{study.slug}/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    response = Client().get("/static/favicon.svg")
    assert response.status_code == 200 and response["Content-Type"].startswith("image/svg+xml")


@pytest.mark.django_db
def test_a_file_changed_since_collectstatic_is_served_as_it_is_now(settings, tmp_path):
    source = tmp_path / "source"
    (source / "extra").mkdir(parents=True)
    script = source / "extra" / "page.js"
    script.write_text("const before = 1;\n" * 200)
    settings.STATICFILES_DIRS = [*settings.STATICFILES_DIRS, source]
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", interactive=False, verbosity=0, ignore_patterns=OTHER_APPS)
    compressed = Client().get("/static/extra/page.js", HTTP_ACCEPT_ENCODING="br")
    assert brotli.decompress(b"".join(compressed.streaming_content)) == script.read_bytes()

    script.write_text("const after = 2;\n" * 200)
    later = os.stat(settings.STATIC_ROOT / "extra" / "page.js").st_mtime + 10
    os.utime(script, (later, later))
    response = Client().get("/static/extra/page.js", HTTP_ACCEPT_ENCODING="br")
    assert "Content-Encoding" not in response  # the app's own file, not yet compressed
    assert b"".join(response.streaming_content) == script.read_bytes()
