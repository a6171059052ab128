"""Static files compressed once and served compressed.

The storage: WhiteNoise's compressed storage, skipping files whose .br/.gz are up to date.
WhiteNoise compresses every file on every collectstatic (Brotli at its highest level: about
half a minute for the admin's and Swagger UI's files on a loaded 2-core machine), and
scripts/start runs collectstatic at each start. WhiteNoise gives each .br/.gz its source's
modification time, and collectstatic copies a changed file anew (a new modification time),
so a compressed copy with its source's time is current.

The middleware: WhiteNoise that serves the collected files (with their .br/.gz) and an app's
own file only where none was collected or the app's file changed since. Plain WhiteNoise with
WHITENOISE_USE_FINDERS (set so that tests and a fresh checkout need no collectstatic) lets the
apps' uncompressed files replace every collected one.
"""

import os

from django.contrib.staticfiles import finders
from whitenoise.compress import Compressor
from whitenoise.middleware import WhiteNoiseMiddleware
from whitenoise.storage import CompressedStaticFilesStorage


class IncrementalCompressedStaticFilesStorage(CompressedStaticFilesStorage):
    def post_process(self, paths, dry_run=False, **options):
        changed = {path: value for path, value in paths.items() if not self._compressed_current(path)}
        yield from super().post_process(changed, dry_run=dry_run, **options)

    def _compressed_current(self, path: str) -> bool:
        source = self.path(path)
        suffixes = [".gz"] + [".br"] * Compressor(quiet=True).use_brotli
        try:
            mtime = os.stat(source).st_mtime
            return all(os.stat(source + suffix).st_mtime == mtime for suffix in suffixes)
        except FileNotFoundError:  # not compressed yet, or not worth compressing (tried again)
            return False


class CollectedFirstWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    def add_files_from_finders(self):
        for url, path in self._app_files().items():
            collected = self._collected_path(url)
            if url in self.files and collected and os.stat(collected).st_mtime >= os.stat(path).st_mtime:
                continue  # collected since the app's file last changed: serve it, compressed
            self.add_file_to_dictionary(url, path)

    def _app_files(self) -> dict[str, str]:
        """URL -> file for every static file the finders know, the first finder's winning."""
        files = {}
        for finder in finders.get_finders():
            for relative, storage in finder.list(None):
                prefix = (getattr(storage, "prefix", None) or "").strip("/")
                name = f"{prefix}/{relative}" if prefix else relative
                files.setdefault(self.static_prefix + name.replace(os.sep, "/"), storage.path(relative))
        return files

    def _collected_path(self, url: str) -> str | None:
        if not self.static_root:
            return None
        path = os.path.join(self.static_root, url[len(self.static_prefix) :])
        return path if os.path.isfile(path) else None
