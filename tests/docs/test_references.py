"""Names and paths the pages mention in passing exist: a module, a function, a file, a link."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from tests.docs.blocks import PAGES, ROOT

SOURCE_DIRS = ("agents", "environment", "strategies", "stackgame", "tests", "benchmarks", "docs")


def _inline(page: Path, pattern: str) -> list[str]:
    return sorted(set(re.findall(pattern, page.read_text())))


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_dotted_stackgame_name_resolves(page: Path) -> None:
    names = _inline(page, r"`(stackgame(?:\.[A-Za-z_][A-Za-z0-9_]*)+)`")
    missing = [n for n in names if not _resolves(n)]
    assert not missing, f"{page.name} names what does not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_source_path_and_relative_link_exists(page: Path) -> None:
    dirs = "|".join(SOURCE_DIRS + ("runs",))
    paths = _inline(page, rf"`((?:{dirs})/[^`\s]*)`")
    missing = []
    for path in paths:
        if path.startswith("runs/out") or "<" in path:
            continue  # generated output, or a placeholder
        if not (any(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()):
            missing.append(path)
    for link in _inline(page, r"\]\(([^)#\s]+)(?:#[^)]*)?\)"):
        if re.match(r"[a-z]+:", link):
            continue  # http:, mailto:
        if not (page.parent / link).exists():
            missing.append(link)
    assert not missing, f"{page.name} points at what does not exist: {missing}"
