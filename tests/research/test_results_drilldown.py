"""Drilling into the results: each gallery map's scores, target class and IG completeness gap,
practice and attention-check images marked, the per-image page, the scatter's labelled and
linked points, and the completeness summary per method with its warning above 5 %."""

import re

import pytest
from scipy import stats

from analysis.human_maps import resize_map
from explain.models import SaliencyMap
from tests.research.conftest import HEIGHT, WIDTH, hand_mean, model_map


@pytest.fixture
def staff_client(client, researcher):
    client.force_login(researcher)
    return client


def _gaps(painted_study, gaps: dict) -> None:
    """Store IG-style completeness gaps in the maps' details, as the engine does."""
    for (image, method), gap in gaps.items():
        saliency_map = painted_study.model_maps[(image, method)]
        SaliencyMap.objects.filter(pk=saliency_map.pk).update(
            details={"completeness_gap": gap, "steps_used": 50}
        )


def _figure(page: str, map_id: int) -> str:
    return page.split(f'id="map-{map_id}"')[1].split("</figure>")[0]


def test_gallery_maps_show_their_spearman_target_class_and_gap(staff_client, painted_study):
    _gaps(painted_study, {("img0", "integrated_gradients"): 0.29, ("img0", "xrai"): 0.031})
    page = staff_client.get("/research/test-study/").content.decode()
    ig = _figure(page, painted_study.model_maps[("img0", "integrated_gradients")].pk)
    # Spearman of this map (seed 0) with the mean of A's and B's img0 maps, by hand
    expected = stats.spearmanr(
        resize_map(model_map(0), (HEIGHT, WIDTH)).ravel(),
        hand_mean(painted_study.submitted[("A", "img0")], painted_study.submitted[("B", "img0")]).ravel(),
    ).statistic
    shown = float(re.search(r"Spearman rank correlation <strong>(-?[\d.]+)</strong>", ig).group(1))
    assert shown == pytest.approx(expected, abs=0.0005)
    assert "KL divergence (lower is better):" in ig  # every metric in the hover text
    # class 285 named by the model's prediction for img0; img1 has none, and takes the name
    # img0's prediction gives the class; a class no prediction names keeps its index
    assert "explains “Egyptian cat” (285)" in ig
    img1 = _figure(page, painted_study.model_maps[("img1", "xrai")].pk)
    assert "explains “Egyptian cat” (285)" in img1
    SaliencyMap.objects.filter(pk=painted_study.model_maps[("img1", "integrated_gradients")].pk).update(
        target_class=7
    )
    page = staff_client.get("/research/test-study/").content.decode()
    unnamed = _figure(page, painted_study.model_maps[("img1", "integrated_gradients")].pk)
    assert "explains “class 7” (7)" in unnamed
    page = staff_client.get("/research/test-study/").content.decode()
    ig = _figure(page, painted_study.model_maps[("img0", "integrated_gradients")].pk)
    img1 = _figure(page, painted_study.model_maps[("img1", "xrai")].pk)
    assert "completeness gap 29.0 % (over 5 %)" in ig
    xrai = _figure(page, painted_study.model_maps[("img0", "xrai")].pk)
    assert "completeness gap 3.1 %" in xrai and "over 5 %" not in xrai
    assert "completeness gap" not in img1  # no gap stored, nothing claimed


def test_practice_and_attention_images_are_marked_not_missing(staff_client, painted_study):
    page = staff_client.get("/research/test-study/").content.decode()
    images = painted_study.study.image_set.images
    practice = page.split(f'id="image-{images.get(name="img3").pk}"')[1].split('class="gallery-row')[0]
    check = page.split(f'id="image-{images.get(name="check").pk}"')[1].split('class="gallery-row')[0]
    assert "practice image: not analysed" in practice and "human mean of 0 maps" not in practice
    assert "attention check image: not analysed" in check and "human mean of 0 maps" not in check
    main = page.split(f'id="image-{images.get(name="img0").pk}"')[1].split('class="gallery-row')[0]
    assert "not analysed" not in main and "human mean of 2 maps" in main


def test_completeness_per_method_warns_above_five_percent(staff_client, painted_study):
    _gaps(
        painted_study,
        {
            ("img0", "integrated_gradients"): 0.29,
            ("img1", "integrated_gradients"): 0.02,
            ("img0", "xrai"): 0.01,
            ("img1", "xrai"): 0.04,
        },
    )
    page = staff_client.get("/research/test-study/").content.decode()
    table = page.split('id="completeness-table"')[1].split("</table>")[0]
    rows = re.findall(r"<tr[^>]*><td>([^<]+)</td><td>([^<]+)</td>(.*?)</tr>", table, re.S)
    cells = {method: re.findall(r'<td class="num">([^<]+)</td>', rest) for _, method, rest in rows}
    # maps, median, largest, maps over 5 %
    assert cells["integrated_gradients"] == ["2", "0.155", "0.290", "1"]
    assert cells["xrai"] == ["2", "0.025", "0.040", "0"]
    warnings = re.findall(r'class="warning-box completeness-warning".*?</div>', page, re.S)
    assert len(warnings) == 1
    assert "integrated_gradients: 1 of 2 maps miss completeness by more than 5 %" in warnings[0]
    assert '"steps": {"max_gap": 0.05}' in warnings[0]


def test_no_completeness_section_without_gaps(staff_client, painted_study):
    page = staff_client.get("/research/test-study/").content.decode()
    assert 'id="completeness-table"' not in page


def test_scatter_points_are_labelled_and_link_to_their_image(staff_client, painted_study):
    page = staff_client.get("/research/test-study/").content.decode()
    scatter = page.split('id="ceiling-scatter"')[1].split("</figure>")[0]
    img0 = painted_study.study.image_set.images.get(name="img0").pk
    links = re.findall(r'<a xlink:href="([^"]+)"><title>([^<]+)</title>', scatter)
    # img0 and img1 have ceilings (2 maps each); 2 methods each
    assert len(links) == 4
    assert (f"/research/test-study/images/{img0}/", links[0][1]) in links
    titles = sorted(title for _, title in links)
    assert titles[0].startswith("img0 · efficientnet-lite0 · integrated_gradients: Spearman ")
    assert "ceiling" in titles[0]


def test_the_image_page_shows_every_map_scores_and_ceiling(staff_client, painted_study):
    _gaps(painted_study, {("img0", "integrated_gradients"): 0.29})
    image = painted_study.study.image_set.images.get(name="img0")
    response = staff_client.get(f"/research/test-study/images/{image.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<h1 id="image-title">img0' in page
    # A's and B's maps, each as its own picture
    assert len(re.findall(r'src="/research/annotations/\d+\.png"', page)) == 2
    assert f'src="/research/test-study/images/{image.pk}/human.png"' in page
    table = page.split('id="map-scores"')[1].split("</table>")[0]
    headers = re.findall(r'title="([^":]*):[^"]*">([^<]+)</a></th>', table)
    assert headers[0] == ("Spearman rank correlation (higher is better)", "Spearman ↑") and len(headers) == 10
    assert ("KL divergence (lower is better)", "KLD ↓") in headers
    assert len(re.findall(r'<tr id="map-\d+">', table)) == 2  # IG and XRAI
    assert "Egyptian cat (285)" in table and "29.0 % (over 5 %)" in table
    # the image's own split-half ceiling: with two maps, Spearman between A's and B's map
    expected = stats.spearmanr(
        hand_mean(painted_study.submitted[("A", "img0")]).ravel(),
        hand_mean(painted_study.submitted[("B", "img0")]).ravel(),
    ).statistic
    ceiling = float(re.search(r'id="detail-ceiling">(-?[\d.]+)<', page).group(1))
    assert ceiling == pytest.approx(expected, abs=0.0005)


def test_the_image_page_of_a_practice_image_says_so(staff_client, painted_study):
    image = painted_study.study.image_set.images.get(name="img3")
    page = staff_client.get(f"/research/test-study/images/{image.pk}/").content.decode()
    assert 'id="role-note"' in page and "Practice image: not analysed" in page
    assert 'id="map-scores"' not in page


def test_the_image_page_needs_staff_and_an_image_of_the_study(client, researcher, painted_study, image_set):
    image = painted_study.study.image_set.images.get(name="img0")
    response = client.get(f"/research/test-study/images/{image.pk}/")
    assert response.status_code == 302 and "/admin/login/" in response.url
    client.force_login(researcher)
    from tests.conftest import gradient_image_set

    other = gradient_image_set("other", 1).images.get()
    assert client.get(f"/research/test-study/images/{other.pk}/").status_code == 404
    assert client.get(f"/research/test-study/images/{image.pk}/?min_annotations=x").status_code == 400
