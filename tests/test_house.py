"""House rules of the package: modules stay short, and the code names no corpus item.

Measurements on the benchmark corpus belong in docs/ (docs/tuning.md) with the bench command that reproduces
them, not in snc/; only the numba kernels (one loop per function, libFLAC's style) may run long.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import CORPUS

SNC = Path(__file__).resolve().parents[1] / "snc"
MAX_LINES = 400

#: the corpus items of today (../shared/corpus/manifest.json), so the check runs without the corpus
CORPUS_ITEMS = (
    "lmms_skiessi_onion", "mod_pingus_6", "midi_openmsx_5432gone", "fof_sectoid_feelings", "wesnoth_northerners",
    "mod_pingus_6_compressed", "lmms_skiessi_onion_limited", "midi_openmsx_5432gone_mastered",
)
#: parts of an item's id that name a kind of source or a variant, not the item
GENERIC_PARTS = {"mod", "midi", "fof", "compressed", "limited", "mastered"}


def _text_files():
    for path in sorted(SNC.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            try:
                yield path, path.read_text(encoding="utf-8")
            except UnicodeDecodeError:  # data files (render/data/*.npz)
                continue


def _item_pattern(item_ids) -> re.Pattern:
    """An item's id, or any distinctive part of it alone ('pingus', '5432gone'), as a word of its own."""
    words = set()
    for item in item_ids:
        words.add(item.lower())
        words.update(p for p in item.lower().split("_") if p not in GENERIC_PARTS and not p.isdigit())
    alternatives = "|".join(sorted(map(re.escape, words), key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])({alternatives})(?![a-z0-9])", re.IGNORECASE)


def _naming_corpus_items(item_ids) -> list[str]:
    pattern = _item_pattern(item_ids)
    found = []
    for path, text in _text_files():
        for number, line in enumerate(text.splitlines(), 1):
            if match := pattern.search(line):
                found.append(f"{path.relative_to(SNC.parent)}:{number}: {match.group(0)}")
    return found


def test_no_module_outside_the_kernels_exceeds_400_lines():
    long = {str(path.relative_to(SNC.parent)): n for path, text in _text_files()
            if path.suffix == ".py" and "kernels" not in path.relative_to(SNC).parts[:1]
            and (n := len(text.splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by what they do): {long}"


def test_the_pattern_finds_an_item_and_its_parts_only():
    pattern = _item_pattern(["mod_pingus_6", "midi_openmsx_5432gone"])
    assert pattern.search("measured on mod_pingus_6, 45 s") and pattern.search("5432gone vocals -38 dB")
    assert pattern.search("(Pingus)") and not pattern.search("pinguses") and not pattern.search("mod_6 midi")


def test_snc_names_no_corpus_item_of_today():
    found = _naming_corpus_items(CORPUS_ITEMS)
    assert not found, "corpus items named in snc/ (measurements go to docs/tuning.md):\n" + "\n".join(found)


@pytest.mark.skipif(not (CORPUS / "manifest.json").exists(),
                    reason=f"shared corpus not found at {CORPUS} (set SNC_CORPUS): checked against today's list only")
def test_snc_names_no_item_of_the_corpus_manifest():
    items = [item["id"] for item in json.loads((CORPUS / "manifest.json").read_text())["items"]]
    found = _naming_corpus_items(items)
    assert not found, "corpus items named in snc/ (measurements go to docs/tuning.md):\n" + "\n".join(found)
