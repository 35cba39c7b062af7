"""The serving core: the loaded model, the result cache, and the watcher that follows the registry.

A request takes one reference to the current `Model` and uses it throughout, so a swap (one
attribute assignment) never mixes versions inside a request and never makes one fail.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry import metrics, trace

from nlu.artifact import CASCADE, ONNX, TRANSFORMER, ArtifactError, Model, Raw, Runtime, load_model
from nlu.registry import Registry, open_registry

log = logging.getLogger(__name__)
_meter = metrics.get_meter("switchboard.nlu")
TIER_DURATION = _meter.create_histogram(
    "switchboard.nlu.tier.duration", unit="ms",
    description="time of one call of a tier's model (texts of one request that reached it)")
TIER_TEXTS = _meter.create_counter("switchboard.nlu.texts", description="texts parsed, by the tier that answered")


def runtime_named(name: str) -> Runtime:
    """`onnx` (this image), or `keras`: the training side's runtime, for comparisons."""
    if name == "keras":
        from training_jobs.keras_runtime import KERAS  # needs the training environment (TensorFlow)

        return KERAS
    return ONNX


class LruCache:
    """Model outputs keyed by (model version, token ids): the normalised text.

    Case, accents and spacing are folded by the tokenizer, so a retried or re-typed message skips
    the model; entity spans are still cut from the request's own text.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key, value) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@dataclass
class Settings:
    model_dir: str | None = None
    registry: str | None = None
    runtime: str = "onnx"
    cache_size: int = 4096
    poll_seconds: float = 5.0
    model_cache_dir: str = "/tmp/switchboard-models"
    ready_wait_seconds: float = 10.0  # how long a request waits for the first model to load
    # The keys a caller may send as `Authorization: Bearer <key>` (NLU_API_KEYS): more than one while
    # a key is rotated. None at all, or a short one, and create_app refuses to start. Never in a repr.
    api_keys: tuple[str, ...] = field(default=(), repr=False)


class NluService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model: Model | None = None
        self.cache = LruCache(settings.cache_size)
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._loaded = threading.Event()
        self._registry: Registry | None = None
        self._refused: str | None = None  # a production version that would not load: not tried again
        self.runtime = runtime_named(settings.runtime)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Load in the background: the process answers /healthz (and 503 on /readyz) at once."""
        if self.settings.model_dir:
            target, source = self._load_dir, self.settings.model_dir
        elif self.settings.registry:
            target, source = self._follow_registry, self.settings.registry
        else:
            raise ValueError("no model folder and no registry to load from")
        threading.Thread(target=target, args=(source,), name="nlu-loader", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def swap(self, model: Model) -> None:
        previous = self.model.version if self.model else None
        self.model = model
        self._loaded.set()
        log.info("serving model %s (was %s, runtime %s)", model.version, previous, model.runtime_name)

    def _load_dir(self, folder: str) -> None:
        try:
            self.swap(load_model(folder, self.runtime))
        except Exception as e:  # reported on /readyz; the process stays up to say why
            self.last_error = f"{type(e).__name__}: {e}"
            log.exception("could not load model from %s", folder)

    def _follow_registry(self, location: str) -> None:
        while not self._stop.is_set():
            try:
                if self._registry is None:
                    self._registry = open_registry(location)
                self.check_registry(self._registry)
                self.last_error = None
            except RefusedVersion as e:  # logged once when refused; said on /readyz until production moves
                self.last_error = str(e)
            except Exception as e:  # transient (network, half-written version): try next poll
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("registry check failed: %s", self.last_error)
            self._stop.wait(self.settings.poll_seconds)

    def check_registry(self, registry: Registry) -> None:
        """Serve the production version; one that cannot be loaded (an ArtifactError: an unknown
        recipe, a missing or corrupt file) leaves the version in hand serving, and is not fetched
        again until production points elsewhere."""
        doc, _ = registry.production()
        if not doc or (self.model and self.model.version == doc["version"]):
            return
        if doc["version"] == self._refused:
            raise RefusedVersion(self.last_error or f"version {doc['version']} could not be loaded")
        try:
            folder = registry.fetch(doc["version"], self.settings.model_cache_dir, self.runtime)
            model = load_model(folder, self.runtime)
        except ArtifactError as e:
            self._refused = doc["version"]
            log.error("production version %s cannot be served (still serving %s): %s", doc["version"],
                      self.model.version if self.model else "nothing", e)
            raise RefusedVersion(f"version {doc['version']}: {e}") from None
        self.swap(model)

    # -- requests ----------------------------------------------------------------------------

    def parse(self, texts: Sequence[str]) -> tuple[str, list[dict]]:
        model = self.model  # one version for the whole request, whatever swaps meanwhile
        if model is None:
            # A worker that is still loading (the others may be serving) holds the request
            # rather than failing it; /readyz tells a load balancer not to send it any.
            self._loaded.wait(self.settings.ready_wait_seconds)
            model = self.model
            if model is None:
                raise NotReady(self.last_error or "model is loading")
        batch = [model.tokenize(t) for t in texts]
        keys = [(model.version, tuple(p.id for p in pieces)) for pieces in batch]
        cached: list[Raw | None] = [self.cache.get(k) for k in keys]
        todo = [i for i, o in enumerate(cached) if o is None]
        timings: dict[str, float] = {}
        computed = dict(zip(todo, model.infer([batch[i] for i in todo], timings=timings))) if todo else {}
        for i, raw in computed.items():
            self.cache.put(keys[i], raw)
        outputs = [computed[i] if o is None else o for i, o in enumerate(cached)]
        report_tiers(model, [o.tier for o in outputs], timings, len(todo))
        return model.version, [model.result(t, p, o) for t, p, o in zip(texts, batch, outputs)]


def report_tiers(model: Model, tiers: list[str], timings: dict[str, float], computed: int) -> None:
    """Per request: the tiers' times as metrics and on the request's span (with the tier that
    answered and whether the cascade escalated); texts per answering tier as a metric."""
    attributes = {"switchboard.nlu.recipe": model.recipe, "switchboard.nlu.model_version": model.version}
    for tier, seconds in timings.items():
        TIER_DURATION.record(seconds * 1000, {**attributes, "switchboard.nlu.tier": tier})
    for tier in set(tiers):
        TIER_TEXTS.add(tiers.count(tier), {**attributes, "switchboard.nlu.tier": tier})
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({**attributes, "switchboard.nlu.tier": tiers[0] if len(set(tiers)) == 1 else "mixed",
                             "switchboard.nlu.escalated": tiers.count(TRANSFORMER) if model.recipe == CASCADE else 0,
                             "switchboard.nlu.cache_hits": len(tiers) - computed,
                             **{f"switchboard.nlu.{tier}_ms": round(s * 1000, 3) for tier, s in timings.items()}})


class NotReady(RuntimeError):
    pass


class RefusedVersion(RuntimeError):
    """Production names a version this service cannot load; it goes on serving the one it has."""


