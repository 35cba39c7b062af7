"""The serving core: the loaded model, the result cache, and the watcher that follows the registry.

A request takes one reference to the current `Model` and uses it throughout, so a swap (one
attribute assignment) never mixes versions inside a request and never makes one fail.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

from nlu.artifact import Model, load_model
from nlu.registry import Registry, open_registry

log = logging.getLogger(__name__)


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


class NluService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model: Model | None = None
        self.cache = LruCache(settings.cache_size)
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._loaded = threading.Event()
        self._registry: Registry | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Load in the background: the process answers /healthz (and 503 on /readyz) at once."""
        target = self._load_dir if self.settings.model_dir else self._follow_registry
        threading.Thread(target=target, name="nlu-loader", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def swap(self, model: Model) -> None:
        previous = self.model.version if self.model else None
        self.model = model
        self._loaded.set()
        log.info("serving model %s (was %s, runtime %s)", model.version, previous, model.runtime_name)

    def _load_dir(self) -> None:
        try:
            self.swap(load_model(self.settings.model_dir, self.settings.runtime))
        except Exception as e:  # reported on /readyz; the process stays up to say why
            self.last_error = f"{type(e).__name__}: {e}"
            log.exception("could not load model from %s", self.settings.model_dir)

    def _follow_registry(self) -> None:
        while not self._stop.is_set():
            try:
                if self._registry is None:
                    self._registry = open_registry(self.settings.registry)
                self.check_registry()
                self.last_error = None
            except Exception as e:  # transient (network, half-written version): try next poll
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("registry check failed: %s", self.last_error)
            self._stop.wait(self.settings.poll_seconds)

    def check_registry(self) -> None:
        doc, _ = self._registry.production()
        if not doc or (self.model and self.model.version == doc["version"]):
            return
        folder = self._registry.fetch(doc["version"], self.settings.model_cache_dir, self.settings.runtime)
        self.swap(load_model(folder, self.settings.runtime))

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
        outputs = [self.cache.get(k) for k in keys]
        todo = [i for i, o in enumerate(outputs) if o is None]
        if todo:
            for i, raw in zip(todo, model.infer([batch[i] for i in todo])):
                outputs[i] = raw
                self.cache.put(keys[i], raw)
        return model.version, [model.result(t, p, *o) for t, p, o in zip(texts, batch, outputs)]


class NotReady(RuntimeError):
    pass


