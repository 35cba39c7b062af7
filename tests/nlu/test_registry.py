"""Registry rules over both stores: the local folder and Blob Storage on a real Azurite."""
from __future__ import annotations

import json
import threading
import uuid

import pytest

from nlu.registry import Registry, RegistryError, open_registry
from switchboard.errors import ConflictError


def make_artifact(folder, intents=("a", "b"), tags=("O",), contract=1):
    folder.mkdir(parents=True)
    meta = {"name": "nlu", "contract": contract, "version": "1.0.0", "intents": list(intents),
            "tags": list(tags), "vocab": ["[PAD]", "[UNK]"]}
    (folder / "metadata.json").write_text(json.dumps(meta))
    (folder / "metrics.json").write_text("{}")
    (folder / "model.onnx").write_bytes(b"onnx-bytes-" + uuid.uuid4().bytes)
    (folder / "model.onnx.data").write_bytes(b"weights")
    (folder / "model.h5").write_bytes(b"h5")
    return folder


@pytest.fixture(params=["local", "azurite"])
def registry(request, tmp_path, monkeypatch) -> Registry:
    if request.param == "local":
        return open_registry(str(tmp_path / "registry"))
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", request.getfixturevalue("azurite"))
    return open_registry(f"azure://models-{uuid.uuid4().hex[:8]}")


def test_versions_bump_patch_minor_major(registry, tmp_path):
    assert registry.register(make_artifact(tmp_path / "m1")) == "1.0.0"
    assert registry.register(make_artifact(tmp_path / "m2")) == "1.0.1"  # retrain
    assert registry.register(make_artifact(tmp_path / "m3", intents=("a", "b", "c"))) == "1.1.0"  # labels
    assert registry.register(make_artifact(tmp_path / "m4", intents=("a", "b", "c"))) == "1.1.1"
    assert registry.register(make_artifact(tmp_path / "m5", contract=2)) == "2.0.0"  # contract
    assert registry.versions() == ["1.0.0", "1.0.1", "1.1.0", "1.1.1", "2.0.0"]
    assert registry.metadata("1.1.0")["version"] == "1.1.0"


def test_a_version_this_service_cannot_serve_is_not_promoted(registry, tmp_path):
    version = registry.register(make_artifact(tmp_path / "future", contract=99))
    with pytest.raises(RegistryError, match="contract 99"):
        registry.promote(version)
    assert registry.production() == (None, None)


def test_fetch_brings_the_registered_bytes(registry, tmp_path):
    src = make_artifact(tmp_path / "m1")
    version = registry.register(src)
    got = registry.fetch(version, tmp_path / "cache")
    assert (got / "model.onnx").read_bytes() == (src / "model.onnx").read_bytes()
    assert not (got / "model.h5").exists()  # only what the runtime needs travels
    assert json.loads((got / "metadata.json").read_text())["version"] == version


def test_a_cascade_registers_both_tiers_and_fetch_brings_what_onnx_serving_reads(registry, tmp_path):
    src = make_artifact(tmp_path / "c", contract=3)
    meta = json.loads((src / "metadata.json").read_text())
    (src / "metadata.json").write_text(json.dumps({**meta, "recipe": "cascade",
                                                   "detector": {"kind": "mahalanobis", "threshold": 0.1}}))
    missing = "lacks transformer.onnx, transformer.onnx.data, transformer.h5, detector.npz"
    with pytest.raises(RegistryError, match=missing):
        registry.register(src)
    for name in ("transformer.onnx", "transformer.onnx.data", "transformer.h5", "detector.npz"):
        (src / name).write_bytes(name.encode())
    version = registry.register(src)
    got = registry.fetch(version, tmp_path / "cache")
    assert sorted(p.name for p in got.iterdir()) == ["detector.npz", "metadata.json", "metrics.json", "model.onnx",
                                                     "model.onnx.data", "transformer.onnx", "transformer.onnx.data"]
    assert (got / "transformer.onnx").read_bytes() == b"transformer.onnx"


def test_promote_and_rollback(registry, tmp_path):
    for i in range(3):
        registry.register(make_artifact(tmp_path / f"m{i}"))
    assert registry.production() == (None, None)
    registry.promote("1.0.0")
    registry.promote("1.0.2")
    assert registry.production()[0]["version"] == "1.0.2"
    registry.rollback()
    assert registry.production()[0]["version"] == "1.0.0"
    with pytest.raises(RegistryError, match="nothing to roll back"):
        registry.rollback()
    with pytest.raises(RegistryError, match="no version 9.9.9"):
        registry.promote("9.9.9")


def test_of_two_promotions_from_the_same_pointer_only_one_wins(registry, tmp_path):
    for i in range(3):
        registry.register(make_artifact(tmp_path / f"m{i}"))
    registry.promote("1.0.0")
    seen = registry.production()
    registry.promote("1.0.1", pointer=seen)
    with pytest.raises(ConflictError):
        registry.promote("1.0.2", pointer=seen)
    assert registry.production()[0]["version"] == "1.0.1"


def test_racing_promotions_have_exactly_one_winner(registry, tmp_path):
    for i in range(4):
        registry.register(make_artifact(tmp_path / f"m{i}"))
    registry.promote("1.0.0")
    seen = registry.production()  # every contender decided on this state
    barrier = threading.Barrier(3)
    outcomes = {}

    def contender(version):
        barrier.wait()
        try:
            registry.promote(version, pointer=seen)
            outcomes[version] = "won"
        except ConflictError:
            outcomes[version] = "lost"

    threads = [threading.Thread(target=contender, args=(v,)) for v in ("1.0.1", "1.0.2", "1.0.3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [v for v, o in outcomes.items() if o == "won"]
    assert len(winners) == 1
    assert registry.production()[0]["version"] == winners[0]


def test_racing_registrations_get_distinct_versions(registry, tmp_path):
    folders = [make_artifact(tmp_path / f"m{i}") for i in range(3)]
    results = []
    threads = [threading.Thread(target=lambda f=f: results.append(registry.register(f))) for f in folders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["1.0.0", "1.0.1", "1.0.2"]


def test_register_refuses_an_incomplete_artifact(registry, tmp_path):
    folder = make_artifact(tmp_path / "m")
    (folder / "model.onnx").unlink()
    with pytest.raises(RegistryError, match="lacks model.onnx"):
        registry.register(folder)
    assert registry.versions() == []
