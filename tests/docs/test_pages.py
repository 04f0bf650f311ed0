"""Every runnable block of README.md and docs/*.md runs against real outputs.

The pages share one workspace, in page order (README.md first), as a reader working
through them in one checkout would: a batch a page runs again resumes (nothing to do).
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.docs.blocks import (
    PAGES,
    ROOT,
    DocBlockError,
    environment,
    make_workspace,
    parse,
    run_page,
)

BATCH_MD = ROOT / "docs" / "BATCH.md"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("checkout"))


@contextlib.contextmanager
def values_for(page: Path) -> Iterator[dict[str, str]]:
    """Values the page's substitutions may name (a Dask scheduler only when asked for)."""
    if "{dask_scheduler}" not in page.read_text():
        yield {}
        return
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp://",  # reachable from the commands' own processes
        scheduler_port=0,
        dashboard_address=None,
    ) as cluster:
        yield {"dask_scheduler": cluster.scheduler_address}


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_runnable_block_of_the_page_runs(page: Path, workspace: Path) -> None:
    with values_for(page) as values:
        log = run_page(page, workspace, values)
    print("\n".join(log))


def test_the_pages_have_runnable_blocks() -> None:
    # the harness finds what it should: a parser that found nothing would pass every page
    found = {p.name: [b for b in parse(p) if b.runnable()] for p in PAGES}
    assert {b.lang for b in found["README.md"]} >= {"python", "sql", "text", "bash"}
    assert {b.lang for b in found["BATCH.md"]} >= {"bash", "python", "sql", "toml"}


def _block_starting(page: Path, prefix: str) -> str:
    blocks = [b.code for b in parse(page) if b.code.lstrip().startswith(prefix)]
    assert len(blocks) == 1, f"{page.name}: no single block starts with {prefix!r}"
    return blocks[0]


def _stackgame(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["stackgame", *args], cwd=cwd, env=environment(), capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


def test_the_bad_spec_example_is_what_a_misspelt_strategy_prints(workspace: Path) -> None:
    example = _block_starting(BATCH_MD, "stackgame batch: error:").strip()
    spec = workspace / "runs" / "my.toml"
    spec.write_text('[parameters]\n"firms.nvidia.strategy" = ["always_extrac"]\n')
    done = _stackgame(["batch", "runs/my.toml"], workspace)
    assert done.returncode == 2 and done.stdout == ""
    line = done.stderr.strip()
    assert "\n" not in line, done.stderr
    # the same file, field and problem (the hint after them may be worded differently)
    head = example.split("'always_extrac'")[0]
    assert line.startswith(head), (line, head)


def test_the_listing_of_what_a_batch_writes_names_real_files_and_columns(
    workspace: Path,
) -> None:
    listing = _block_starting(BATCH_MD, "DIR/manifest.json")
    done = _stackgame(["batch", "runs/demand-bust.toml", "--workers", "2"], workspace)
    assert done.returncode == 0, done.stderr
    out = workspace / "runs" / "out" / "demand-bust"
    entries: dict[str, str] = {}
    for line in listing.splitlines():
        if line.startswith("DIR/"):
            path, _, text = line.partition(" ")
            entries[path] = text
        else:
            entries[path] += " " + line
    assert len(entries) == 4
    for path, text in entries.items():
        text = re.sub(r"\([^)]*\)", "", text.partition(":")[2] or text)
        names = {w.strip() for w in text.split(",")}
        names = {n for n in names if re.fullmatch(r"[a-z_]+", n)}
        assert len(names) >= 4, (path, text)
        if path.endswith(".json"):
            have = set(json.loads((out / path[4:]).read_text()))
        else:
            files = sorted(out.glob(path[4:]))
            assert files, f"{path}: no such files in a real batch"
            have = set(pd.read_parquet(files[0]).columns)
        assert names <= have, f"{path}: {sorted(names - have)} are not in the real output"


def test_a_broken_block_fails_with_its_page_and_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Intro.\n\n```python\nfrom stackgame.simulation.simulate import simulate\n```\n\n"
        "```python\nfrom stackgame.simulation.simulate import simulate_renamed\n```\n"
    )
    with pytest.raises(DocBlockError, match=r"page.md:7 \(python\): ImportError"):
        run_page(page, make_workspace(tmp_path / "ws"), {})


def test_a_stale_substitution_or_a_skip_without_reason_fails(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    stale = tmp_path / "stale.md"
    stale.write_text(
        '<!-- doctest: replace "--rounds 99" with "--rounds 1" -->\n```bash\ntrue\n```\n'
    )
    with pytest.raises(DocBlockError, match="is not in the block"):
        run_page(stale, ws, {})
    bare = tmp_path / "bare.md"
    bare.write_text("<!-- doctest: skip -->\n```bash\ntrue\n```\n")
    with pytest.raises(DocBlockError, match="needs a reason"):
        run_page(bare, ws, {})


def test_an_empty_query_and_a_failing_command_fail(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    ws = make_workspace(tmp_path / "ws")
    empty = tmp_path / "empty.md"
    empty.write_text("```sql\n-- duckdb\nSELECT 1 WHERE false;\n```\n")
    with pytest.raises(DocBlockError, match="returned no rows"):
        run_page(empty, ws, {})
    failing = tmp_path / "failing.md"
    failing.write_text("```bash\nstackgame run --no-such-flag\n```\n")
    with pytest.raises(DocBlockError, match="exit code 2"):
        run_page(failing, ws, {})
