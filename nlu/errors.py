"""The error of an artifact that cannot be served: its own module, so that every module reading a part
of an artifact (`artifact`, `detector`) raises it without importing another."""


class ArtifactError(RuntimeError):
    """An artifact folder that is missing files or does not fit this service's contract."""
