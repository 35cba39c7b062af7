"""Structural checks of infra/ (Bicep, azd), each a function over a templates root in
tests/infra/infracheck.py, run here on the real infra/: every check must report no problem. The same
checks run on copies with one mistake each in tests/infra/test_mutations.py."""
from __future__ import annotations

from pathlib import Path

import bicepsubset as bicep
import infracheck
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def templates() -> infracheck.Templates:
    return infracheck.load(ROOT)


@pytest.mark.parametrize("check", infracheck.CHECKS, ids=lambda c: c.__name__)
def test_check(templates, check):
    problems = infracheck.run(check, templates)
    assert problems == [], "\n".join(problems)


def test_every_check_is_registered_once():
    defined = {name for name in dir(infracheck) if name.startswith("check_")}
    registered = [c.__name__ for c in infracheck.CHECKS]
    assert sorted(registered) == sorted(set(registered)) and set(registered) == defined


def test_known_vocabularies_hold_only_what_is_used(templates):
    """A property or API version no template uses any more leaves the lists (they stay reviewable)."""
    used = {key for file in templates.files.values() for key, _ in infracheck.resource_property_names(file)}
    assert infracheck.known_properties() - used == set()
    versions = {(s.type.split("@")[0], s.type.split("@")[1]) for f in templates.files.values()
                for s in f.resources.values() if "@" in s.type}
    listed = {(t, v) for t, vs in infracheck.API_VERSIONS.items() for v in vs}
    assert listed - versions == set()


# ---- the parser itself ----------------------------------------------------------------------------------

def test_the_parser_evaluates_loops_conditions_and_module_outputs():
    file = bicep.parse("""
param flag bool
param names array = []
var base = [
  'a'
  'b'
]
var all = concat(base, [for n in base: '${n}-poison'], flag ? [
  'c'
] : [])
resource r 'X/y@1' = [for (n, i) in all: {
  name: n
  properties: { index: i, other: flag ? { on: true } : null }
}]
output o array = names
""")
    ev = bicep.Evaluator("t.bicep", file)
    values = bicep.items_of(ev.var("all"))
    assert values == [("a", []), ("b", []), ("a-poison", []), ("b-poison", []), ("c", ["flag"])]
    instances = ev.instances("r")
    assert [body["name"] for _, body, _ in instances] == ["a", "b", "a-poison", "b-poison", "c"]
    assert instances[-1][2] == ["flag"] and instances[1][1]["properties"]["index"] == 1
    other = instances[0][1]["properties"]["other"]
    assert isinstance(other, bicep.Either) and bicep.alternatives(other) == [{"on": True}, None]


@pytest.mark.parametrize("text", [
    "param x string\nfunc f() string => 'a'\n",  # a statement outside the subset
    "var x = {\n  a: 1 b: 2\n}\n",  # two properties on one line without a comma
    "var x = 'unterminated\n",
    "var x = [\n  1\n",
])
def test_the_parser_refuses_what_it_cannot_read(text):
    with pytest.raises(bicep.BicepError):
        bicep.parse(text)


def test_an_unknown_property_of_an_object_is_an_error():
    ev = bicep.Evaluator("t.bicep", bicep.parse("var o = { a: 1 }\nvar b = o.c\n"))
    with pytest.raises(bicep.BicepError, match="no property c"):
        ev.var("b")
