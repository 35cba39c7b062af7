"""Horovod when launched by `horovodrun` (or an MPI job), a single process otherwise.

The single-process path imports nothing from Horovod, so training works without it installed.
"""
from __future__ import annotations

import os

LAUNCHER_VARS = ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK")


class Single:
    rank, size = 0, 1

    def optimizer(self, opt):
        return opt

    def callbacks(self) -> list:
        return []

    def mean(self, value: float) -> float:
        return value


class Horovod:
    """Data-parallel training: wrapped optimizer, rank-0 broadcast, averaged metrics."""

    def __init__(self) -> None:
        import horovod.tensorflow.keras as hvd

        hvd.init()
        pin_gpu(hvd.local_rank())
        self.hvd = hvd
        self.rank, self.size = hvd.rank(), hvd.size()

    def optimizer(self, opt):
        return self.hvd.DistributedOptimizer(opt)

    def callbacks(self) -> list:
        return [
            self.hvd.callbacks.BroadcastGlobalVariablesCallback(0),
            self.hvd.callbacks.MetricAverageCallback(),
        ]

    def mean(self, value: float) -> float:
        import tensorflow as tf

        averaged = self.hvd.allreduce(tf.constant(value, tf.float32), op=self.hvd.Average)
        # a dense tensor; Horovod's return type also admits IndexedSlices
        return float(averaged)  # pyright: ignore[reportArgumentType]


def pin_gpu(local_rank: int) -> None:
    """One GPU per rank on a multi-GPU node (Horovod's recipe); nothing on a machine without one."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    if gpus:
        tf.config.set_visible_devices(gpus[local_rank % len(gpus)], "GPU")


def context() -> Single | Horovod:
    if any(v in os.environ for v in LAUNCHER_VARS):
        return Horovod()
    return Single()
