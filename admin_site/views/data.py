"""Import / export: the catalogue in and out as training data.

Import takes the project's data-set format (YAML, format_version 1) or a `text,intent` CSV, read by the
training CLI's own readers (nlu.dataset), so a file is refused with the same line-level errors, named
after the uploaded file. It merges: examples are added to their intents (created when missing, with
the code's default route), entities, synonyms and lookup values added, utterances the catalogue
already has skipped; nothing is removed. Export is the whole catalogue as `catalogue.yml`, which
`python -m training_jobs train --data catalogue.yml` reads unchanged.
"""
from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import yaml
from flask import Blueprint, Response, g, render_template, request

from admin_site import auth
from admin_site import catalogue as cat
from admin_site.auth import requires
from admin_site.services import services
from nlu import dataset

bp = Blueprint("data", __name__, url_prefix="/data")
FORMATS = {".yml": "yaml", ".yaml": "yaml", ".csv": "csv"}
MAX_SHOWN = 20  # problems listed; the rest are counted
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def size_label(limit: int) -> str:
    mib = 1024 * 1024
    return f"{limit / mib:g} MB" if limit >= mib else f"{limit / 1024:g} KB"


def read_upload(filename: str, content: bytes, entities: list[str]) -> tuple[dataset.Dataset, dict[str, list[str]]]:
    """An uploaded file as a data set and its entities' lookup values; `cat.Invalid` names each problem
    with the file's own name and the line, as the training CLI does."""
    suffix = Path(filename).suffix.lower()
    kind = FORMATS.get(suffix)
    if kind is None:
        raise cat.Invalid([f"{filename}: not a data set: upload a .yml or .yaml file (format_version 1) "
                           f"or a .csv file with a text,intent header"])
    try:
        text = content.decode("utf-8-sig")  # a spreadsheet's CSV may start with a byte-order mark
    except UnicodeDecodeError as e:
        raise cat.Invalid([f"{filename}: not UTF-8 text (byte {e.start} cannot be read)"]) from None
    if not text.strip():
        raise cat.Invalid([f"{filename}: the file is empty"])
    with tempfile.TemporaryDirectory(prefix="switchboard-import-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            data = dataset.read_project(path) if kind == "yaml" else dataset.read_csv(path)
        except dataset.DataError as e:
            raise cat.Invalid([f"{filename}: {e.where}: {e.problem}"]) from None
    if kind == "csv":
        return _annotated_csv(filename, text, entities), {}
    _check_names(filename, text)
    return data, data.lookups


def _annotated_csv(filename: str, text: str, entities: list[str]) -> dataset.Dataset:
    """The CSV's rows again, with line numbers: a text may carry [value](entity) annotations (the
    catalogue keeps examples in that form), and each intent needs a name the catalogue accepts."""
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader, None)
    known, problems, examples, named = set(entities), [], [], set()
    for row in reader:
        if len(row) != 2 or not row[0].strip():
            continue  # blank lines: the reader has refused anything else already
        where = f"{filename}: line {reader.line_num}"
        raw, intent = row[0].strip(), row[1].strip()
        if intent not in named:
            named.add(intent)
            if problem := cat.name_problem(intent):
                problems.append(f"{where}: {problem}")
        found = cat.example_problems(raw, known)
        problems += [f"{where}: {p}" for p in found]
        if not found:
            example_text, spans = dataset.parse_annotated(raw)
            examples.append(dataset.Example(example_text, intent, spans))
    if problems:
        raise cat.Invalid(problems)
    return dataset.Dataset({"train": examples}, source=filename)


def _check_names(filename: str, text: str) -> None:
    """The catalogue's rule for names, which the training reader does not apply, with each line."""
    root = yaml.compose(text, Loader=_LOADER)  # read_project has checked the shape
    top = {k.value: v for k, v in root.value}
    problems = []
    for section, what in (("entities", "an entity"), ("intents", "an intent")):
        node = top.get(section)
        for item_node in node.value if isinstance(node, yaml.SequenceNode) else []:
            item = {k.value: v for k, v in item_node.value}
            if problem := cat.name_problem(item["name"].value, what):
                problems.append(f"{filename}: line {item['name'].start_mark.line + 1}: {problem}")
    if problems:
        raise cat.Invalid(problems)


def _page(status: int = 200, **state):
    view = services().catalogue.view()
    doc, left_out = view.export
    counts = {"intents": len(doc["intents"]), "examples": sum(len(i["examples"]) for i in doc["intents"]),
              "oos": sum(len(i["examples"]) for i in doc["intents"] if i["name"] == cat.OOS),
              "entities": len(doc["entities"]), "lookups": sum(len(e.get("lookup", [])) for e in doc["entities"])}
    problems = state.pop("problems", [])
    return render_template("data/index.html", counts=counts, left_out=left_out, owners=view.duplicates,
                           limit=size_label(services().settings.max_upload_bytes), problems=problems[:MAX_SHOWN],
                           more_problems=max(0, len(problems) - MAX_SHOWN), **state), status


@bp.get("/")
@requires("viewer")
def index():
    return _page()


@bp.get("/export")
@requires("viewer")
def export():
    body = services().catalogue.view().export_yaml
    return Response(body, mimetype="application/yaml",
                    headers={"Content-Disposition": 'attachment; filename="catalogue.yml"'})


@bp.post("/import")
@requires("editor")
def import_file():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(400, problems=["choose a file to import"])
    filename = Path(upload.filename).name
    store = services().catalogue
    try:
        data, lookups = read_upload(filename, upload.read(), store.entity_names())
        summary = store.import_dataset(data, lookups, g.user.name)
    except cat.Invalid as e:
        return _page(400, problems=e.problems, filename=filename)
    services().audit.record(g.user.name, "data.import", filename, summary.detail())
    return _page(summary=summary, filename=filename)


@bp.errorhandler(413)
def too_large(_error):
    """An upload over MAX_CONTENT_LENGTH: the page again, with the limit named. Werkzeug refuses the
    body when the CSRF check first reads the form, before the user is loaded or any view runs."""
    limit = size_label(services().settings.max_upload_bytes)
    message = f"The file is larger than the {limit} limit. Split it and import the parts one after another."
    if "user" not in g:
        auth.load_user()
    if g.user is None:
        return render_template("error.html", status=413, message=message), 413
    return _page(413, problems=[message])
