"""One blueprint per page group."""
from __future__ import annotations

from flask import abort

from admin_site.ports import Doc
from admin_site.services import services


def stored(kind: str, doc_id: str) -> Doc:
    """The catalogue's document of this kind and id, or a 404 page naming what is missing."""
    doc = services().catalogue.get(kind, doc_id)
    if doc is None:
        abort(404, f"there is no {kind} {doc_id!r}")
    return doc
