"""Every chart of the results page, and one image's gallery, as files for a paper: SVG (parses
as XML, white background) and PNG (opens, white background), permission-checked."""

import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image as PILImage

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def staff_client(client, researcher):
    client.force_login(researcher)
    return client


def _png(response) -> np.ndarray:
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    picture = PILImage.open(io.BytesIO(response.content))
    picture.load()
    return np.asarray(picture.convert("RGB"))


def _svg(response) -> ET.Element:
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    root = ET.fromstring(response.content)
    assert root.tag == f"{SVG}svg"
    return root


def _white_background(root: ET.Element) -> bool:
    # matplotlib draws the figure's patch first: its fill is the background
    patch = root.find(f".//{SVG}g[@id='figure_1']/{SVG}g[@id='patch_1']/{SVG}path")
    return patch is not None and "fill: #ffffff" in patch.get("style", "")


@pytest.mark.parametrize("chart", ["spearman", "ceiling-scatter"])
def test_each_chart_downloads_as_svg_and_png(staff_client, painted_study, chart):
    page = staff_client.get("/research/test-study/").content.decode()
    assert (
        f"/research/test-study/charts/{chart}.svg" in page
        and f"/research/test-study/charts/{chart}.png" in page
    )
    svg = staff_client.get(f"/research/test-study/charts/{chart}.svg")
    assert f'filename="test-study-{chart}.svg"' in svg["Content-Disposition"]
    assert _white_background(_svg(svg))
    pixels = _png(staff_client.get(f"/research/test-study/charts/{chart}.png"))
    assert pixels.shape[0] > 300 and pixels.shape[1] > 600  # 200 dpi
    assert (pixels[0, 0] == 255).all() and (pixels[-1, -1] == 255).all()
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # something is drawn


def test_the_charts_follow_the_filters(staff_client, painted_study):
    # min_annotations=3: no image has 3 analysed maps, so there is nothing to draw
    assert staff_client.get("/research/test-study/charts/spearman.svg?min_annotations=3").status_code == 404
    assert staff_client.get("/research/test-study/charts/spearman.svg?min_annotations=x").status_code == 400


def test_one_images_gallery_downloads_as_a_figure(staff_client, painted_study):
    image = painted_study.study.image_set.images.get(name="img0")
    page = staff_client.get(f"/research/test-study/images/{image.pk}/").content.decode()
    assert f"/research/test-study/images/{image.pk}/figure.png" in page
    pixels = _png(staff_client.get(f"/research/test-study/images/{image.pk}/figure.png"))
    # image, human mean, IG, XRAI side by side and a colour bar: wider than tall
    assert pixels.shape[1] > 2.5 * pixels.shape[0]
    assert (pixels[0, 0] == 255).all()
    root = _svg(staff_client.get(f"/research/test-study/images/{image.pk}/figure.svg"))
    assert _white_background(root)
    # four panels and the colour bar are five axes
    assert len(root.findall(f".//{SVG}g[@id='figure_1']/{SVG}g")) >= 6


@pytest.mark.parametrize(
    "path",
    [
        "/research/test-study/charts/spearman.svg",
        "/research/test-study/charts/ceiling-scatter.png",
    ],
)
def test_downloads_need_staff(client, painted_study, path):
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_unknown_charts_and_formats_are_not_found(staff_client, painted_study):
    image = painted_study.study.image_set.images.get(name="img0")
    assert staff_client.get("/research/test-study/charts/pie.svg").status_code == 404
    assert staff_client.get("/research/test-study/charts/spearman.gif").status_code == 404
    assert staff_client.get(f"/research/test-study/images/{image.pk}/figure.jpg").status_code == 404
    assert staff_client.get("/research/test-study/images/999999/figure.png").status_code == 404
