"""The media storage: Django's file system storage, less the partial file a failed write leaves behind.

FileSystemStorage creates the file and then writes it; when the disk (or a quota) fills mid-write,
the error goes up to the request, which stores no row (engine/core/errors.py answers 507), but
the half-written file stayed on the full disk with nothing pointing at it. This storage removes
it. With MEDIA_STORAGE=s3 the engine uses django-storages' S3Storage instead (engine/settings.py),
where an object is written whole or not at all.
"""

import contextlib
import os

from django.core.files.storage import FileSystemStorage


class MediaStorage(FileSystemStorage):
    """FileSystemStorage that deletes the file of a write that failed part-way."""

    def _save(self, name, content):
        full_path = self.path(name)
        existed = os.path.lexists(full_path)
        try:
            return super()._save(name, content)
        except OSError as exc:
            # FileExistsError is the name race Django retries itself; a file that was there before is not ours.
            if not isinstance(exc, FileExistsError) and not existed:
                with contextlib.suppress(OSError):
                    os.remove(full_path)
            raise
