"""Zip wrapping of attachments, as the VXP SDK does it, with zip-bomb limits.

The SDK puts each file alone in a zip archive before base64-encoding it. Reading
one back must never inflate without bound: each entry is read in chunks and
refused as soon as it passes the limit.
"""

from __future__ import annotations

import io
import zipfile

from edxml.errors import AttachmentEncodingError, AttachmentTooLargeError

__all__ = ["ZIP_MAGIC", "is_zip", "unwrap", "wrap"]

ZIP_MAGIC = b"PK\x03\x04"
_CHUNK = 64 * 1024


def is_zip(data: bytes) -> bool:
    """True when ``data`` starts like a zip archive (local file header)."""
    return data[:4] == ZIP_MAGIC


def wrap(name: str, data: bytes) -> bytes:
    """One file, deflated, alone in a zip archive (the SDK's wrapping)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(name or "attachment", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, data)
    return buffer.getvalue()


def unwrap(data: bytes, max_bytes: int) -> list[tuple[str, bytes]]:
    """Every file in the archive as ``(name, bytes)``, each at most ``max_bytes``."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as error:
        raise AttachmentEncodingError(
            f"attachment is not a readable zip archive: {error}"
        ) from None
    files: list[tuple[str, bytes]] = []
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            if info.file_size > max_bytes:
                raise AttachmentTooLargeError(max_bytes, info.file_size, info.filename)
            out = bytearray()
            try:
                with archive.open(info) as member:
                    while chunk := member.read(_CHUNK):
                        out += chunk
                        if len(out) > max_bytes:
                            raise AttachmentTooLargeError(max_bytes, len(out), info.filename)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as error:
                raise AttachmentEncodingError(
                    f"zip entry {info.filename!r} will not open: {error}"
                ) from None
            files.append((info.filename, bytes(out)))
    return files
