"""The model registry: versions under `nlu/<MAJOR.MINOR.PATCH>/` and a production pointer.

One set of rules (`Registry`) over stores with the same small interface (`stores.Store`): a local
folder, an Azure Blob Storage container (Azurite locally) and an in-memory twin. The pointer
`nlu/production.json` is only ever written conditionally on the ETag it was read with, so of two
promotions racing exactly one wins.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from switchboard.connections import StorageAccount, describe_missing, storage_account, storage_from_env
from switchboard.errors import ConflictError, SettingsError

from .artifact import METADATA, METRICS, ONNX, SERVED_CONTRACTS, Runtime, artifact_files, read_metadata
from .stores import Store

PREFIX = "nlu"
POINTER = f"{PREFIX}/production.json"


class RegistryError(RuntimeError):
    """A registry operation that cannot go ahead; the message says why."""


def parse_version(v: str) -> tuple[int, int, int]:
    try:
        major, minor, patch = (int(x) for x in v.split("."))
    except ValueError:
        raise RegistryError(f"bad version {v!r}: expected MAJOR.MINOR.PATCH") from None
    return major, minor, patch


class Registry:
    def __init__(self, store: Store, location: str) -> None:
        self.store, self.location = store, location

    def versions(self) -> list[str]:
        found = {k.split("/")[1] for k in self.store.list(PREFIX + "/") if k.endswith("/" + METADATA)}
        return sorted(found, key=parse_version)

    def metadata(self, version: str) -> dict:
        got = self.store.read(f"{PREFIX}/{version}/{METADATA}")
        if got is None:
            raise RegistryError(f"no version {version} in {self.location}")
        return json.loads(got[0])

    def metrics(self, version: str) -> dict:
        """A version's evaluation (`metrics.json`, registered with it); {} when it has none."""
        return self._document(f"{PREFIX}/{version}/{METRICS}")

    def job(self, version: str) -> dict:
        """The training job that made a version (`job.json`: its id, who asked, the data set); {} when
        none says so: registered by hand, or the worker has not written it yet."""
        return self._document(f"{PREFIX}/{version}/job.json")

    def record_job(self, version: str, job: dict) -> None:
        """Say which training job made a version; the worker writes it once the version is registered."""
        self.store.put_bytes(f"{PREFIX}/{version}/job.json", json.dumps(job).encode())

    def _document(self, key: str) -> dict:
        got = self.store.read(key)
        return json.loads(got[0]) if got else {}

    def next_version(self, meta: dict) -> str:
        """Retrain: patch. Changed label set: minor. Changed contract: major."""
        versions = self.versions()
        if not versions:
            return f"{meta['contract']}.0.0"
        latest = versions[-1]
        major, minor, patch = parse_version(latest)
        prev = self.metadata(latest)
        if meta["contract"] != prev["contract"]:
            return f"{max(major + 1, meta['contract'])}.0.0"
        if (meta["intents"], meta["tags"]) != (prev["intents"], prev["tags"]):
            return f"{major}.{minor + 1}.0"
        return f"{major}.{minor}.{patch + 1}"

    def register(self, folder: str | Path) -> str:
        """Upload an artifact as the next version; its metadata is written first, as the claim."""
        folder = Path(folder)
        meta = read_metadata(folder, check_contract=False)
        files = artifact_files(meta)  # the recipe's: every tier's files, for every runtime
        missing = [f for f in files if not (folder / f).exists()]
        if missing:
            raise RegistryError(f"{folder}: artifact lacks {', '.join(missing)}")
        for _ in range(5):
            version = self.next_version(meta)
            claimed = {**meta, "version": version}
            try:
                self.store.write(f"{PREFIX}/{version}/{METADATA}",
                                 json.dumps(claimed, ensure_ascii=False).encode(), etag=None)
            except ConflictError:
                continue  # another register took this number; count again
            for name in files[1:]:
                self.store.put_file(f"{PREFIX}/{version}/{name}", folder / name)
            return version
        raise RegistryError("could not claim a version number after 5 tries")

    def production(self) -> tuple[dict | None, str | None]:
        got = self.store.read(POINTER)
        if got is None:
            return None, None
        return json.loads(got[0]), got[1]

    def promote(self, version: str, pointer: tuple[dict | None, str | None] | None = None) -> dict:
        """Point production at `version`.

        `pointer` is the (document, ETag) the decision was based on (read now if not given);
        if production moved since then, ConflictError is raised and nothing changes.
        """
        meta = self.metadata(version)
        if meta["contract"] not in SERVED_CONTRACTS:
            raise RegistryError(f"version {version} speaks contract {meta['contract']}, "
                                f"which this service cannot serve {SERVED_CONTRACTS}")
        doc, etag = pointer or self.production()
        history = (doc or {}).get("history", [])
        if doc and doc.get("version"):
            history = history + [doc["version"]]
        return self._point(version, history[-20:], etag)

    def rollback(self) -> dict:
        doc, etag = self.production()
        if not doc or not doc.get("history"):
            raise RegistryError("nothing to roll back to: production has no earlier version")
        return self._point(doc["history"][-1], doc["history"][:-1], etag)

    def _point(self, version: str, history: list[str], etag: str | None) -> dict:
        new = {"version": version, "history": history,
               "updated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        self.store.write(POINTER, json.dumps(new).encode(), etag=etag)
        return new

    def fetch(self, version: str, cache: str | Path, runtime: Runtime = ONNX) -> Path:
        """Download a version's files for `runtime` into `cache/<version>` (atomically) once."""
        dest = Path(cache) / version
        if (dest / METADATA).exists():
            return dest
        Path(cache).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=cache))
        try:
            meta = self.metadata(version)
            for name in artifact_files(meta, runtime):
                self.store.get_file(f"{PREFIX}/{version}/{name}", tmp / name)
            os.rename(tmp, dest)
        except OSError:
            if not (dest / METADATA).exists():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return dest


# -- stores ----------------------------------------------------------------------------------

class LocalStore:
    """A folder; ETags are content hashes and conditional writes hold an exclusive file lock."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def read(self, key: str) -> tuple[bytes, str] | None:
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        return data, hashlib.sha256(data).hexdigest()

    def write(self, key: str, data: bytes, etag: str | None) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self.read(key)
            if (current is None) != (etag is None) or (current and current[1] != etag):
                raise ConflictError(f"{key} changed since it was read")
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return hashlib.sha256(data).hexdigest()

    def put_file(self, key: str, path: Path) -> None:
        self._path(key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, self._path(key))

    def get_file(self, key: str, path: Path) -> None:
        try:
            shutil.copyfile(self._path(key), path)
        except FileNotFoundError:
            raise RegistryError(f"{self.root}: missing {key}") from None

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def url(self, key: str) -> str:
        return self._path(key).resolve().as_uri()

    def list(self, prefix: str) -> Iterable[str]:
        base = self._path(prefix)
        if not base.exists():
            return []
        return [p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file()]


class MemoryStore:
    """The stores' in-memory twin (unit tests, the admin site without Storage)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def read(self, key: str) -> tuple[bytes, str] | None:
        data = self.objects.get(key)
        return None if data is None else (data, hashlib.sha256(data).hexdigest())

    def write(self, key: str, data: bytes, etag: str | None) -> str:
        with self.lock:
            current = self.read(key)
            if (current is None) != (etag is None) or (current and current[1] != etag):
                raise ConflictError(f"{key} changed since it was read")
            self.objects[key] = bytes(data)
        return hashlib.sha256(data).hexdigest()

    def put_bytes(self, key: str, data: bytes) -> None:
        self.objects[key] = bytes(data)

    def put_file(self, key: str, path: Path) -> None:
        self.put_bytes(key, Path(path).read_bytes())

    def get_file(self, key: str, path: Path) -> None:
        if key not in self.objects:
            raise RegistryError(f"memory store: missing {key}")
        Path(path).write_bytes(self.objects[key])

    def list(self, prefix: str) -> Iterable[str]:
        return [k for k in list(self.objects) if k.startswith(prefix)]

    def url(self, key: str) -> str:
        return f"memory://{key}"


class BlobStore:
    """An Azure Blob Storage container; conditional writes use If-Match / If-None-Match."""

    def __init__(self, container) -> None:  # azure.storage.blob.ContainerClient
        self.container = container

    def read(self, key: str) -> tuple[bytes, str] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloader = self.container.get_blob_client(key).download_blob()
        except ResourceNotFoundError:
            return None
        return downloader.readall(), downloader.properties.etag

    def write(self, key: str, data: bytes, etag: str | None) -> str:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

        blob = self.container.get_blob_client(key)
        try:
            if etag is None:
                result = blob.upload_blob(data, overwrite=False)
            else:
                result = blob.upload_blob(data, overwrite=True, etag=etag,
                                          match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError) as e:
            raise ConflictError(f"{key} changed since it was read") from e
        return result["etag"]

    def put_file(self, key: str, path: Path) -> None:
        with open(path, "rb") as f:
            self.container.get_blob_client(key).upload_blob(f, overwrite=True, max_concurrency=2)

    def get_file(self, key: str, path: Path) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloader = self.container.get_blob_client(key).download_blob(max_concurrency=2)
        except ResourceNotFoundError:
            raise RegistryError(f"blob container {self.container.container_name}: missing {key}") from None
        with open(path, "wb") as f:
            downloader.readinto(f)

    def list(self, prefix: str) -> Iterable[str]:
        return [b.name for b in self.container.list_blobs(name_starts_with=prefix)]

    def put_bytes(self, key: str, data: bytes) -> None:
        self.container.get_blob_client(key).upload_blob(data, overwrite=True)

    def url(self, key: str) -> str:
        return self.container.get_blob_client(key).url


CONNECTION_SETTINGS = ("NLU_REGISTRY_CONNECTION_STRING", "AZURE_STORAGE_CONNECTION_STRING", "AzureWebJobsStorage")


def open_store(location: str, connection: str | StorageAccount | None = None) -> LocalStore | BlobStore:
    """`azure://<container>` (the connection given, or from the environment in either form:
    `switchboard.connections`; the container created if missing and the identity may) or a local folder."""
    if location.startswith("azure://"):
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        container_name = location.removeprefix("azure://").strip("/")
        try:
            account = storage_account(connection) if connection else storage_from_env(os.environ, *CONNECTION_SETTINGS)
        except SettingsError as e:
            raise RegistryError(f"{location}: {e}") from None
        if account is None:
            raise RegistryError(f"{location}: {describe_missing(*CONNECTION_SETTINGS)}")
        container = account.blob_service().get_container_client(container_name)
        try:
            container.create_container()
        except ResourceExistsError:
            pass
        except HttpResponseError as e:  # a reader's identity may not create it: the template did
            if e.status_code != 403:
                raise
        return BlobStore(container)
    return LocalStore(location.removeprefix("file://"))


def open_registry(location: str, connection: str | StorageAccount | None = None) -> Registry:
    """`azure://<container>` (the connection given or from the environment) or a local folder."""
    store = open_store(location, connection)
    return Registry(store, location if isinstance(store, BlobStore) else str(store.root))
