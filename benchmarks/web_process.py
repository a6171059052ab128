"""What a web process costs to start: a fresh interpreter loads the Django app, every URL
module and every admin module (what a gunicorn worker does before its first request), then
reports its wall time, memory and whether torch got loaded.

    .venv/bin/python -m benchmarks.web_process [--runs 3]
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import time, sys
started = time.perf_counter()
from config import wsgi
import django.urls
from django.contrib import admin
django.urls.get_resolver().url_patterns
admin.site.get_urls()
elapsed = time.perf_counter() - started
memory = {}
for line in open("/proc/self/smaps_rollup"):
    key = line.split(":")[0]
    if key in ("Rss", "Private_Dirty"):
        memory[key] = int(line.split()[1]) // 1024
print(f"load {elapsed:.2f} s, RSS {memory['Rss']} MiB, private dirty {memory['Private_Dirty']} MiB, "
      f"torch loaded: {'torch' in sys.modules}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings", DATA_DIR=data_dir)
        for _ in range(args.runs):
            result = subprocess.run(
                [sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True, check=True
            )
            print(result.stdout.strip())


if __name__ == "__main__":
    main()
