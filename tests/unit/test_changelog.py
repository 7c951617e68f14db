"""The changelog format and where its entries go."""

import pytest

from gen import changelog
from gen.errors import GenError

TEXT = """\
# comment
v3:
- Cover three.
[a]
- A three.
v2:
[a]
- A two,
  wrapped.
[b]
- B two.
"""


def test_parse_and_render():
    log = changelog.parse(TEXT)
    assert [v.number for v in log.versions] == [3, 2]
    assert changelog.patch_notes(log, "a") == \
        "Changes in v3:\n- A three.\n\nChanges in v2:\n- A two,\n  wrapped."
    assert changelog.patch_notes(log, "c") == ""
    assert changelog.cover_notes(log, {"a": "x: a", "b": "x: b"}) == (
        "Changes in v3:\n- Cover three.\n- x: a:\n  - A three.\n\n"
        "Changes in v2:\n- x: a:\n  - A two,\n    wrapped.\n- x: b:\n  - B two.")


@pytest.mark.parametrize(("text", "message"), [
    ("- orphan\n", "entry before any 'vN:' line"),
    ("[a]\n- x\n", "patch section before any 'vN:' line"),
    ("v2:\nfree text\n", "expected 'vN:'"),
])
def test_parse_errors_name_the_line(text, message):
    with pytest.raises(GenError, match=message):
        changelog.parse(text, "log")


def test_load_checks_versions_and_slugs(tmp_path):
    f = tmp_path / "log"
    f.write_text(TEXT)
    with pytest.raises(GenError, match="has a v3 section, but this is v2"):
        changelog.load(f, 2, {"a", "b"})
    with pytest.raises(GenError, match="names unknown patches: b"):
        changelog.load(f, 3, {"a"})
    f.write_text("v1:\n- x\n")
    with pytest.raises(GenError, match="v1 has no earlier version"):
        changelog.load(f, 1, set())
