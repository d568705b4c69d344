"""The README and docs/ link only to files of the repository (which exist): nothing that a
clone, an offline reader or a renamed sibling folder would miss."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_stay_in_the_repository(doc):
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        path = target.split("#", 1)[0]
        assert "://" not in target and not target.startswith("//"), target
        if not path:
            continue  # an anchor in the same file
        resolved = (doc.parent / path).resolve()
        assert resolved.is_relative_to(ROOT), target
        assert resolved.exists(), target
