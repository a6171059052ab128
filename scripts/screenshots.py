"""Screenshots of every participant page, at phone and desktop size, into docs/screenshots/.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Uses a throw-away data directory (SQLite, media) so nothing of var/ is touched: migrates it,
loads the demo study (`manage.py demo`), starts `manage.py runserver` on a free port with
DJANGO_DEBUG=true (so that it serves the static files), and drives Debian's headless Chromium
through the participant flow: consent, declined, instructions, each trial (painted), finish.
Then it gives the demo study a time limit and shows a trial with the countdown. Phone:
390x844 at device scale 2 (touch); desktop: 1440x900. A PNG over 400 KB is saved as JPEG
(quality 80) instead; the script prints every file it wrote.
"""

import argparse
import io
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image as PILImage
from playwright import sync_api as playwright_sync

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEVICES = {
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "has_touch": True,
        "is_mobile": True,
    },
    "desktop": {"viewport": {"width": 1440, "height": 900}, "device_scale_factor": 1},
}
MAX_PNG_BYTES = 400 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict, *args: str) -> None:
    subprocess.run(
        [str(PYTHON), "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def wait_for_server(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"runserver exited with {server.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


class Shooter:
    def __init__(self, out: Path):
        self.out = out
        self.written: list[Path] = []

    def shot(self, page, name: str, full_page: bool = True) -> None:
        page.wait_for_load_state("load")
        page.evaluate("document.fonts && document.fonts.ready")
        png = page.screenshot(full_page=full_page, animations="disabled", caret="initial")
        path = self.out / f"{name}.png"
        for stale in (self.out / f"{name}.png", self.out / f"{name}.jpg"):
            stale.unlink(missing_ok=True)
        if len(png) > MAX_PNG_BYTES:
            path = path.with_suffix(".jpg")
            PILImage.open(io.BytesIO(png)).convert("RGB").save(path, "JPEG", quality=80, optimize=True)
        else:
            path.write_bytes(png)
        self.written.append(path)
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"  {shown}  ({path.stat().st_size // 1024} KB)")


def canvas_point(page, fx: float, fy: float) -> tuple[float, float]:
    box = page.locator("#painter-canvas").bounding_box()
    return box["x"] + fx * box["width"], box["y"] + fy * box["height"]


def paint(page, touch: bool, turns: int = 1) -> None:
    """A soft scribble over the middle of the image; more turns until Submit is allowed."""
    page.locator("#painter-canvas").scroll_into_view_if_needed()
    points = [
        (
            0.5 + 0.22 * math.cos(a / 12 * math.pi) * (1 - a / 80),
            0.5 + 0.25 * math.sin(a / 12 * math.pi) * (1 - a / 80),
        )
        for a in range(0, 24 * turns + 1)
    ]
    count = page.evaluate("window.painter.strokes.length")
    if touch:
        cdp = page.context.new_cdp_session(page)
        x, y = canvas_point(page, *points[0])
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
        for point in points[1:]:
            x, y = canvas_point(page, *point)
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        cdp.detach()
    else:
        page.mouse.move(*canvas_point(page, *points[0]))
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*canvas_point(page, *point), steps=3)
        page.mouse.up()
    page.wait_for_function("(n) => window.painter.strokes.length === n", arg=count + 1)


def paint_until_allowed(page, touch: bool) -> None:
    paint(page, touch)
    for turns in range(2, 6):
        if page.locator("#submit").is_enabled():
            return
        paint(page, touch, turns)
    page.wait_for_function("() => !document.getElementById('submit').disabled")


def on_painter(page) -> bool:
    return page.locator("#painter-canvas").count() > 0


def wait_for_painter(page) -> None:
    page.wait_for_function("() => window.painter && window.painter.map instanceof Float32Array")
    page.wait_for_function("() => document.getElementById('painter-image').complete")


def flow(browser, base: str, device: str, shooter: Shooter) -> None:
    options = DEVICES[device]
    touch = bool(options.get("has_touch"))
    print(f"{device}:")

    context = browser.new_context(**options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/s/demo/?PROLIFIC_PID=shot-declined-{device}")
    page.click("#consent-decline")
    page.wait_for_load_state("load")
    shooter.shot(page, f"{device}-declined")
    context.close()

    context = browser.new_context(**options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/s/demo/?PROLIFIC_PID=shot1-{device}")
    shooter.shot(page, f"{device}-consent")
    page.click("#consent-accept")
    page.wait_for_selector("#painter-canvas, #instructions-continue")
    if page.locator("#instructions-continue").count():
        page.locator(".worked-example img").evaluate(
            "img => img.complete || new Promise(r => img.onload = r)"
        )
        shooter.shot(page, f"{device}-instructions")
        page.click("#instructions-continue")
    trial = 0
    while True:
        page.wait_for_selector("#painter-canvas, #completion-code")
        if not on_painter(page):
            break
        trial += 1
        wait_for_painter(page)
        if trial == 1:
            shooter.shot(page, f"{device}-trial-empty")
        paint_until_allowed(page, touch)
        if trial <= 2:
            # the first trial (the practice one in the demo), then the first counted one
            shooter.shot(page, f"{device}-trial" if trial == 1 else f"{device}-trial-2")
        try:
            with page.expect_navigation():  # the same URL: the server moves the participant on
                page.click("#submit")
        except playwright_sync.TimeoutError:
            raise RuntimeError(
                f"trial {trial} was not accepted: {page.locator('#status').inner_text()!r}"
            ) from None
        page.wait_for_load_state("load")
        if trial > 20:
            raise RuntimeError("more than 20 trials: the flow does not end")
    shooter.shot(page, f"{device}-finish")  # before a recruiter redirect (5 s) takes the page away
    context.close()


def timed_trial(browser, base: str, device: str, shooter: Shooter) -> None:
    options = DEVICES[device]
    context = browser.new_context(**options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/s/demo/?PROLIFIC_PID=shot-timer-{device}")
    page.click("#consent-accept")
    page.wait_for_selector("#painter-canvas, #instructions-continue")
    if page.locator("#instructions-continue").count():
        page.click("#instructions-continue")
    wait_for_painter(page)
    paint(page, bool(options.get("has_touch")))
    page.wait_for_function("() => /^0:0\\d$/.test(document.getElementById('countdown').textContent)")
    shooter.shot(page, f"{device}-trial-countdown")
    context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    data_dir = Path(tempfile.mkdtemp(prefix="screenshots-data-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "STATIC_ROOT", "MEDIA_ROOT")
    }
    env.update(DATA_DIR=str(data_dir), DJANGO_DEBUG="true", OMP_WAIT_POLICY="PASSIVE")
    server = None
    try:
        manage(env, "migrate", "--noinput")
        manage(env, "demo")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [str(PYTHON), "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_server(f"{base}/s/demo/", server)
        shooter = Shooter(args.out)
        with playwright_sync.sync_playwright() as manager:
            browser = manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            for device in DEVICES:
                flow(browser, base, device, shooter)
            # a time limit for the countdown's picture (15 s: the last 10 s are shown in red)
            manage(
                env,
                "shell",
                "-c",
                "from study.models import Study; Study.objects.filter(slug='demo').update(time_limit_s=15)",
            )
            for device in DEVICES:
                timed_trial(browser, base, device, shooter)
            browser.close()
        print(f"{len(shooter.written)} files in {args.out}")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
