"""The registry's storage port: what `registry.Registry` needs from a place that keeps its objects.

`registry.LocalStore` (a folder), `registry.BlobStore` (an Azure Blob Storage container) and the in-memory
twin `registry.MemoryStore` implement it. Pyright checks this module in strict mode (pyrightconfig.json).
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol


class Store(Protocol):
    def read(self, key: str) -> tuple[bytes, str] | None: ...  # (content, etag) or None
    def write(self, key: str, data: bytes, etag: str | None) -> str: ...  # etag None: must not exist
    def put_file(self, key: str, path: Path) -> None: ...
    def get_file(self, key: str, path: Path) -> None: ...
    def list(self, prefix: str) -> Iterable[str]: ...
    def put_bytes(self, key: str, data: bytes) -> None: ...  # unconditional
    def url(self, key: str) -> str: ...  # where the object is, for a job that reads it elsewhere
