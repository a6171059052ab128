"""Media storage that leaves nothing behind when a write fails, and a plain-words message
for such failures.

Django's FileSystemStorage creates the file, then writes it: on a full disk the write
fails and the empty or partial file stays. Here that file is removed before the error goes
on, so a failed save writes nothing.
"""

import errno
import os

from django.core.files.storage import FileSystemStorage


class CleanFileSystemStorage(FileSystemStorage):
    def _save(self, name, content):
        path = self.path(name)
        existed = os.path.lexists(path)
        try:
            return super()._save(name, content)
        except OSError:
            if not existed and os.path.lexists(path):
                os.remove(path)  # ours (created with O_EXCL by this call): partly written
            raise


def storage_error_message(error: OSError, what: str) -> str:
    """E.g. "the media disk is full (no space left on device): could not write X"."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the media disk is full (no space left on device): could not write {what}"
    reason = error.strerror or str(error)
    return f"the media storage could not be written ({reason}): could not write {what}"
