"""Release tarballs made in memory, as the index's tarball sources download them."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping


def tarball(members: Mapping[str, bytes | str]) -> bytes:
    """A .tar.gz of `members` (name → content; text is written as UTF-8)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
