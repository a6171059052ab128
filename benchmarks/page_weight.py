"""Page weight per participant: bytes a participant's browser downloads, page by page, through
the demo study, on a desktop (1440x900) and a phone (390x844 at 3x, touch).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.page_weight [--root DIR] [--json FILE]

It runs the platform as scripts/start does (migrate, collectstatic, demo, make_renditions when
that command exists, gunicorn without DEBUG) from ``--root`` (default: this checkout; give a
`git worktree` of an older commit to measure that code) on a fresh DATA_DIR and a free loopback
port. Then, per viewport, a new headless Chromium context (empty cache) opens the study link,
consents, reads the instructions, paints a band across each image with the mouse (the phone:
touch emulation, the same strokes through the mouse) and submits, until the finish page.

Counted per page (a page is a top-level navigation and everything it loads or sends until
the next: the trial page's image, scripts, styles and its map submission's answer): the
response bodies as they came over the wire (Chromium's encoded data length less the headers,
via the DevTools protocol; a response from the browser's cache counts 0). Uploads are not
counted. Chromium offers Brotli over HTTPS and to 127.0.0.1 (a secure origin), so it gets the
.br copies here, as over HTTPS in production.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORTS = {
    "desktop 1440x900": {"viewport": {"width": 1440, "height": 900}, "device_scale_factor": 1},
    "phone 390x844 @3x": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 3,
        "is_mobile": True,
        "has_touch": True,
    },
}


@dataclass
class Page:
    label: str
    bytes_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.bytes_by_kind.values())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_platform(root: Path, data_dir: Path) -> tuple[subprocess.Popen, str]:
    """The platform as scripts/start runs it, from ``root``, without the Celery worker."""
    env = dict(os.environ, DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings")
    env.pop("DJANGO_DEBUG", None)
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"], ["demo"]):
        subprocess.run(manage + command, cwd=root, env=env, check=True, capture_output=True)
    # Every main image to each participant (the demo shows 3 of 5): the same pages before/after.
    every_image = (
        "from study.models import Study; s = Study.objects.get(slug='demo'); "
        "s.trials_per_participant = s.image_set.images.filter(is_practice=False, is_attention_check=False,"
        " variant_of=None).count(); s.save()"
    )
    subprocess.run(manage + ["shell", "-c", every_image], cwd=root, env=env, check=True, capture_output=True)
    if (root / "catalogue/management/commands/make_renditions.py").exists():
        subprocess.run(manage + ["make_renditions"], cwd=root, env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
        + ["--threads", "4"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
            return server, url
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("gunicorn did not answer /healthz")


def kind_of(mime_type: str) -> str:
    if mime_type.startswith("image/"):
        return "images"
    if "javascript" in mime_type or "css" in mime_type:
        return "js+css"
    return "html+other"


def participate(browser, base_url: str, options: dict, pid: str, identity: bool = False) -> list[Page]:
    """One participant from the study link to the finish page; the bytes of each page.
    ``identity``: the browser asks for no compression (what compression saves, same code)."""
    context = browser.new_context(**options)
    if identity:
        context.set_extra_http_headers({"Accept-Encoding": "identity"})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    pages: list[Page] = []
    responses: dict[str, tuple[str, str, int]] = {}  # request id -> (mime, url, page index)

    main_frame_id = cdp.send("Page.getFrameTree")["frameTree"]["frame"]["id"]
    header_bytes: dict[str, int] = {}  # request id -> bytes of the response's header block

    def on_response(event):
        response = event["response"]
        if event.get("type") == "Document" and event.get("frameId") == main_frame_id:
            pages.append(Page(label=response["url"]))
        responses[event["requestId"]] = (response.get("mimeType", ""), response["url"], len(pages) - 1)

    def on_headers(event):
        header_bytes[event["requestId"]] = len(event.get("headersText") or "") or sum(
            len(name) + len(value) + 4 for name, value in event["headers"].items()
        )

    def on_finished(event):
        if event["requestId"] not in responses:
            return
        mime, url, index = responses[event["requestId"]]
        # encodedDataLength: what came over the wire, headers included; 0 from the cache
        body = max(0, event["encodedDataLength"] - header_bytes.get(event["requestId"], 0))
        kinds = pages[max(index, 0)].bytes_by_kind
        kinds[kind_of(mime)] = kinds.get(kind_of(mime), 0) + body

    cdp.on("Network.responseReceived", on_response)
    cdp.on("Network.responseReceivedExtraInfo", on_headers)
    cdp.on("Network.loadingFinished", on_finished)

    page.goto(f"{base_url}/s/demo/?PROLIFIC_PID={pid}&STUDY_ID=bench&SESSION_ID={pid}")
    labels = ["study link (consent)"]
    page.click("#consent-accept")
    page.wait_for_selector("#instructions-continue")
    page.wait_for_load_state("load")  # the worked example's picture, before leaving the page
    labels.append("instructions")
    page.click("#instructions-continue")
    while True:
        page.wait_for_load_state("load")
        if page.query_selector("#completion-code"):
            labels.append("finish")
            break
        page.wait_for_function(
            "() => document.querySelector('#painter-canvas').style.visibility !== 'hidden'"
        )
        page.wait_for_function("() => document.getElementById('painter-image').complete")
        target = page.inner_text("#target-class")
        position = page.inner_text(".trial-progress")
        labels.append(f"trial: {target} ({position.lower()})")
        paint_band(page)
        trial_id = page.evaluate(
            "() => JSON.parse(document.getElementById('trial-config').textContent).trialId"
        )
        page.click("#submit")
        page.wait_for_function(
            "(id) => { const c = document.getElementById('trial-config'); return document.readyState"
            " === 'complete' && (!c || JSON.parse(c.textContent).trialId !== id); }",
            arg=trial_id,
        )
    page.wait_for_timeout(500)  # the last responses' loadingFinished events
    context.close()
    # Redirects (consent -> instructions) are documents too: keep the pages with a label.
    documents = [p for p in pages if p.total or p.bytes_by_kind]
    if len(documents) != len(labels):
        raise RuntimeError(f"{len(documents)} documents for {len(labels)} pages: {[p.label for p in pages]}")
    for document, label in zip(documents, labels, strict=True):
        document.label = label
    return documents


def paint_band(page) -> None:
    """A band across the middle of the image, the painter's default brush, until Submit is on."""
    box = page.locator("#painter-canvas").bounding_box()
    for row in (0.4, 0.5, 0.6, 0.3, 0.7):
        y = box["y"] + box["height"] * row
        page.mouse.move(box["x"] + box["width"] * 0.2, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.8, y, steps=12)
        page.mouse.up()
        if page.evaluate("() => !document.querySelector('#submit').disabled"):
            return
    raise RuntimeError("Submit stayed disabled after painting")


def measure(root: Path, identity: bool = False) -> dict[str, list[Page]]:
    from playwright.sync_api import sync_playwright

    data_dir = Path(tempfile.mkdtemp(prefix="page-weight-"))
    server, url = start_platform(root, data_dir)
    try:
        with sync_playwright() as manager:
            browser = manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            results = {
                name: participate(browser, url, options, pid=f"weight{index}", identity=identity)
                for index, (name, options) in enumerate(VIEWPORTS.items())
            }
            browser.close()
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


def print_table(results: dict[str, list[Page]]) -> None:
    for viewport, pages in results.items():
        print(f"\n{viewport}")
        print(f"  {'page':44s} {'html+other':>11s} {'js+css':>9s} {'images':>9s} {'total':>9s}  (KB)")
        for page in pages:
            row = [page.bytes_by_kind.get(kind, 0) / 1000 for kind in ("html+other", "js+css", "images")]
            print(f"  {page.label:44s} {row[0]:11.1f} {row[1]:9.1f} {row[2]:9.1f} {page.total / 1000:9.1f}")
        kinds = {
            kind: sum(p.bytes_by_kind.get(kind, 0) for p in pages) / 1000
            for kind in ("html+other", "js+css", "images")
        }
        total = sum(p.total for p in pages) / 1000
        print(
            f"  {'whole participation':44s} {kinds['html+other']:11.1f} {kinds['js+css']:9.1f} "
            f"{kinds['images']:9.1f} {total:9.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose platform is measured")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--identity",
        action="store_true",
        help="the browser asks for uncompressed responses (Accept-Encoding: identity)",
    )
    args = parser.parse_args()
    results = measure(args.root.resolve(), identity=args.identity)
    print(f"platform from {args.root.resolve()}" + (", Accept-Encoding: identity" if args.identity else ""))
    print_table(results)
    if args.json:
        args.json.write_text(
            json.dumps(
                {v: [{"page": p.label, **p.bytes_by_kind} for p in pages] for v, pages in results.items()},
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
