"""The branch manifest (switchboard/branches.json) is what the code says: the admin site knows the
function app's branches, replies and default routes through it alone."""
from core import manifest
from switchboard import branches


def test_the_committed_manifest_is_the_codes():
    assert branches.load() == manifest.build(), "switchboard/branches.json is stale: run `make manifest`"


def test_a_branch_added_to_the_code_shows_in_a_new_manifest(tmp_path, monkeypatch):
    from switchboard.templates import Template

    templates = {**manifest.branches.all_templates(), "gift_wrap": {"offer": Template("Wrap {sku}?", ("sku",))}}
    monkeypatch.setattr(manifest.branches, "all_templates", lambda: templates)
    monkeypatch.setitem(manifest.ROUTES, "gift_wrap", "gift_wrap")
    path = tmp_path / "branches.json"
    assert manifest.main([str(path)]) == 0
    written = branches.load(path)
    assert written.templates["gift_wrap"]["offer"].slots == ("sku",) and written.routes["gift_wrap"] == "gift_wrap"
    assert written != branches.load()


def test_an_unreadable_manifest_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "branches.json"
    path.write_text("{")
    try:
        branches.load(path)
    except RuntimeError as e:
        assert str(path) in str(e) and "make manifest" in str(e)
    else:
        raise AssertionError("a broken manifest was read")
