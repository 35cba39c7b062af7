"""The documentation stays a map that is true: the README short, every relative link and anchor
resolving, every docs page opening with a table of contents, no Markdown line too long to read in a
terminal or a diff, and docs/settings.md naming exactly the settings the code reads.

The settings check reads the code rather than importing it, so it needs nothing installed and keeps
working as modules move: each deployable's folder, and the shared packages it imports, are scanned
for the environment variables they read.
"""
from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README_MAX_LINES = 300
LINE_MAX = 120
SKIPPED_DIRS = {"node_modules", ".venv", "__pycache__"}
# docs/settings.md: one `##` section per deployable, its tables checked against these folders
DEPLOYABLES = {
    "The function app": ("function_app",),
    "The admin site": ("admin_site",),
    "The NLU service": ("inference_container",),
    "The training worker and CLI": ("training_jobs",),
    "The local stack": ("devstack",),
}
SHARED = ("switchboard", "nlu")  # packages more than one deployable imports
EXTERNAL = "†"  # a setting read by the platform or an SDK, not by our code
NOT_SETTINGS = {"PATH"}  # the process's own search path, extended for child processes
UPPER_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")  # NLU_URL
SETTING_NAME = re.compile(UPPER_NAME.pattern + r"|^[A-Z][a-z]+(?:[A-Z][a-z0-9]*)+$")  # also AzureWebJobsStorage
TABLE_NAMES = re.compile(r"(?:^|_)(?:ENV|ENV_NAMES|SETTING|SETTINGS|REQUIRED)$")


def own_markdown() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.glob("*.md")),
            ROOT / "bench" / "README.md", ROOT / "infra" / "README.md"]


def all_markdown() -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".")]
        found += [Path(folder) / f for f in files if f.endswith(".md")]
    return sorted(found)


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# ---- Markdown, as GitHub renders it ------------------------------------------------------------

def prose(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fence = [], ""
    for number, line in enumerate(text.splitlines(), 1):
        marker = re.match(r"^\s*(```+|~~~+)", line)
        if marker and (not fence or marker.group(1).startswith(fence)):
            fence = "" if fence else marker.group(1)
            continue
        if not fence:
            lines.append((number, line))
    return lines


def plain(text: str) -> str:
    """A heading or link text as it reads: links as their text, no code or emphasis marks."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[`*]", "", text).strip()


def headings(path: Path) -> list[tuple[int, str, str]]:
    """(level, text, anchor) of each heading, anchors made as GitHub makes them."""
    found, seen = [], {}
    for _, line in prose(path.read_text(encoding="utf-8")):
        match = re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", line)
        if not match:
            continue
        text = plain(match.group(2))
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        anchor = slug if slug not in seen else f"{slug}-{seen[slug]}"
        seen[slug] = seen.get(slug, 0) + 1
        found.append((len(match.group(1)), text, anchor))
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link and image outside code."""
    found = []
    for number, line in prose(path.read_text(encoding="utf-8")):
        line = re.sub(r"`[^`]*`", "", line)
        found += [(number, m.group(1)) for m in re.finditer(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", line)]
    return found


def table_of_contents(path: Path) -> list[tuple[str, str]]:
    """(text, anchor) of the first list of in-page links, if it comes before the first `##`."""
    items = []
    for _, line in prose(path.read_text(encoding="utf-8")):
        item = re.match(r"^\s*[-*] \[(.+)\]\(#([^)]+)\)\s*$", line)
        if item:
            items.append((plain(item.group(1)), item.group(2)))
        elif items or line.startswith("## "):
            break
    return items


# ---- what the code reads -------------------------------------------------------------------------

def python_files(folder: Path) -> list[Path]:
    """A deployable's own modules; a copy of a shared package inside it counts as that package."""
    return [p for p in sorted(folder.rglob("*.py"))
            if not SKIPPED_DIRS.intersection(p.parts) and p.relative_to(folder).parts[0] not in SHARED]


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def shared_imports(path: Path, tree: ast.Module) -> set[Path]:
    """The shared packages' modules a file imports (a package, a module or a name from one)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the file's package, up level - 1
                package = path.parent.relative_to(ROOT).parts
                base = ".".join([*package[:len(package) - node.level + 1], *([base] if base else [])])
            names += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    found = {module_file(name) for name in names if name.split(".")[0] in SHARED}
    return {f for f in found if f is not None}


def literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def name_template(node: ast.AST) -> tuple[str, str] | None:
    """f"DEVSTACK_{name.upper()}_PORT" as ("DEVSTACK_", "_PORT"): a setting named after a field."""
    if not isinstance(node, ast.JoinedStr):
        return None
    holes = [i for i, part in enumerate(node.values) if isinstance(part, ast.FormattedValue)]
    if len(holes) != 1:
        return None
    hole = node.values[holes[0]].value
    if not (isinstance(hole, ast.Call) and isinstance(hole.func, ast.Attribute) and hole.func.attr == "upper"):
        return None
    text = ["".join(literal(part) or "" for part in parts)
            for parts in (node.values[:holes[0]], node.values[holes[0] + 1:])]
    return text[0], text[1]


def environment_reads(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(setting names, identity-connection keys) a module reads.

    Names: a literal read from the environment (`os.environ`, `os.getenv`, a mapping called `env` or
    a parameter defaulting to `os.environ`); the names in a settings table (a constant such as
    ENV_NAMES, STORAGE_SETTINGS, REQUIRED); a setting-like literal in a `*from_env` function; and a
    settings dataclass's fields named by a template (`f"DEVSTACK_{field.upper()}_PORT"`) in its
    `from_env`. Keys: IDENTITY_KEYS, the suffixes of the Functions host's identity-based
    connections (`AzureWebJobsStorage__accountName`)."""
    templates = {fn.name: name_template(fn.body[-1].value) for fn in tree.body
                 if isinstance(fn, ast.FunctionDef) and isinstance(fn.body[-1], ast.Return) and fn.body[-1].value}
    names, keys = set(), set()

    def setting_literals(nodes: list[ast.AST], pattern: re.Pattern = SETTING_NAME) -> set[str]:
        return {n.value for node in nodes for n in ast.walk(node) if literal(n) and pattern.match(n.value)}

    def field_settings(cls: ast.ClassDef, reader: ast.FunctionDef) -> set[str]:
        fields = [f.target.id for f in cls.body if isinstance(f, ast.AnnAssign) and isinstance(f.target, ast.Name)]
        used = {templates.get(n.func.id) for n in ast.walk(reader) if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Name)} | {name_template(n) for n in ast.walk(reader)}
        return {prefix + field.upper() + suffix for prefix, suffix in used - {None} for field in fields}

    def visit(node: ast.AST, environments: frozenset[str]) -> None:
        """`environments`: the names that hold the environment here (a WSGI `environ` does not)."""
        def is_environment(value: ast.AST) -> bool:
            return ast.unparse(value) == "os.environ" or (isinstance(value, ast.Name) and value.id in environments)

        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            params = node.args.args[::-1]
            defaults = {a.arg for a, d in zip(params, node.args.defaults[::-1]) if ast.unparse(d) == "os.environ"}
            environments = environments - {a.arg for a in params} | defaults | {"env"}
            if node.name.endswith("from_env"):
                names.update(setting_literals(node.body, UPPER_NAME))  # the body: not the annotations
        elif isinstance(node, ast.ClassDef):
            for reader in node.body:
                if isinstance(reader, ast.FunctionDef) and reader.name.endswith("from_env"):
                    names.update(field_settings(node, reader))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            getenv = ast.unparse(node.func) == "os.getenv"
            read = node.func.attr in ("get", "setdefault", "pop") and is_environment(node.func.value)
            if (getenv or read) and literal(node.args[0]):
                names.add(literal(node.args[0]))
        elif isinstance(node, ast.Subscript) and is_environment(node.value) and literal(node.slice):
            names.add(literal(node.slice))
        elif isinstance(node, ast.Compare) and any(map(is_environment, node.comparators)) and literal(node.left):
            names.add(literal(node.left))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = {t.id for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                       if isinstance(t, ast.Name)}
            if any(TABLE_NAMES.search(t) for t in targets):
                names.update(setting_literals([node.value]))
            if "IDENTITY_KEYS" in targets:
                keys.update(n.value for n in ast.walk(node.value) if literal(n))
        for child in ast.iter_child_nodes(node):
            visit(child, environments)

    visit(tree, frozenset({"env"}))
    return names - NOT_SETTINGS, keys


def code_settings() -> dict[str, dict]:
    """Per deployable: {name: files} read by its own modules, by the shared modules it imports, and
    the identity keys either knows."""
    parsed: dict[Path, ast.Module] = {}

    def tree(path: Path) -> ast.Module:
        if path not in parsed:
            parsed[path] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        return parsed[path]

    result = {}
    for section, folders in DEPLOYABLES.items():
        own = [p for folder in folders for p in python_files(ROOT / folder)]
        shared, todo = set(), [p for p in own]
        while todo:
            for found in shared_imports(todo[-1], tree(todo.pop())) - shared:
                shared.add(found)
                todo.append(found)
        entry = {"own": {}, "shared": {}, "keys": set()}
        for kind, files in (("own", own), ("shared", sorted(shared))):
            for path in files:
                names, keys = environment_reads(tree(path))
                entry["keys"] |= keys
                for name in names:
                    entry[kind].setdefault(name, []).append(rel(path))
        result[section] = entry
    return result


def documented_settings() -> dict[str, dict[str, bool]]:
    """Per `##` section of docs/settings.md: {setting name: read outside our code (†)}, from every
    table whose first column is `setting`."""
    sections: dict[str, dict[str, bool]] = {}
    current, header = None, None
    for _, line in prose((DOCS / "settings.md").read_text(encoding="utf-8")):
        if line.startswith("## "):
            current, header = plain(line[3:]), None
            sections[current] = {}
            continue
        if not line.startswith("|") or current is None:
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif header[0].lower() == "setting" and not set(cells[0]) <= set("-: "):
            for name in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cells[0]):
                sections[current][name] = EXTERNAL in cells[0]
    return sections


# ---- the tests -----------------------------------------------------------------------------------

def test_the_readme_is_a_map_of_every_page_not_a_manual():
    readme = ROOT / "README.md"
    lines = readme.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move the detail to a docs/ page")
    linked = {(ROOT / target.partition("#")[0]).resolve() for _, target in links(readme)}
    unlinked = [rel(page) for page in sorted(DOCS.glob("*.md")) if page.resolve() not in linked]
    assert not unlinked, f"README.md links no {', '.join(unlinked)}: add it to the Documentation list"


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for page in own_markdown():
        for number, target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            path, _, fragment = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{rel(page)}:{number}: {target}: no such file")
            elif fragment and file.suffix == ".md" and fragment not in {a for _, _, a in headings(file)}:
                broken.append(f"{rel(page)}:{number}: {target}: no heading #{fragment} in {rel(file)}")
    assert not broken, "broken links:\n" + "\n".join(broken)


@pytest.mark.parametrize("page", [*sorted(DOCS.glob("*.md")), ROOT / "bench" / "README.md"], ids=rel)
def test_each_page_opens_with_a_table_of_contents_of_its_headings(page):
    expected = [(text, anchor) for level, text, anchor in headings(page) if level in (2, 3)]
    contents = table_of_contents(page)
    assert contents, f"{rel(page)} has no table of contents (a list of links to its ## and ### headings)"
    assert contents == expected, (
        f"{rel(page)}: the table of contents does not match the headings\n"
        + "\n".join(f"  contents {c!r:60} heading {e!r}" for c, e in zip(contents + [None] * len(expected),
                                                                         expected + [None] * len(contents))
                    if c != e))


def test_no_markdown_line_is_too_long():
    long = [f"{rel(p)}:{n}: {len(line)} characters" for p in all_markdown()
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if len(line) > LINE_MAX]
    assert not long, f"Markdown lines over {LINE_MAX} characters (fold them):\n" + "\n".join(long)


def test_the_settings_tables_name_what_the_code_reads():
    code, docs = code_settings(), documented_settings()
    problems = []
    for section in DEPLOYABLES:
        if section not in docs:
            problems.append(f"docs/settings.md has no section '## {section}'")
            continue
        read = code[section]
        known = read["own"].keys() | read["shared"].keys()
        documented = {n for n, external in docs[section].items() if not external}
        for name in sorted(read["own"].keys() - docs[section].keys()):
            problems.append(f"{section}: {name} is read by {', '.join(read['own'][name])} but not documented")
        for name in sorted(documented):
            base, _, key = name.partition("__")
            if key and not (base in known and key in read["keys"]):
                problems.append(f"{section}: {name} is documented but {base} takes no identity key '{key}'")
            elif not key and name not in known:
                problems.append(f"{section}: {name} is documented but the code does not read it")
        for name in sorted(n for n, external in docs[section].items() if external and n in known):
            problems.append(f"{section}: {name} is marked {EXTERNAL} (read outside our code) but the code reads it")
        keys_documented = {n.partition("__")[2] for n in documented}
        for key in sorted(read["keys"] - keys_documented):
            problems.append(f"{section}: the identity-based connection key __{key} is not documented")
    users: dict[str, list[str]] = {}  # a shared module's setting: documented by one deployable at least
    for section, read in code.items():
        for name in read["shared"]:
            users.setdefault(name, []).append(section)
    for name, sections in sorted(users.items()):
        if not any(name in docs.get(s, {}) for s in sections):
            files = sorted({f for s in sections for f in code[s]["shared"][name]})
            problems.append(f"{name} is read by {', '.join(files)} (used by {', '.join(sections)}) "
                            f"but documented for none of them")
    assert not problems, "docs/settings.md and the code disagree:\n" + "\n".join(problems)
