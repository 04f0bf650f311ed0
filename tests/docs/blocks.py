"""Find the code blocks of the project's Markdown pages and run them as a reader would.

Every fenced block of ``README.md`` and ``docs/*.md`` whose language is runnable runs:

- ``sh``, ``bash``, ``shell``: one ``bash -eo pipefail`` script in the page's workspace
  (a temporary folder holding a copy of ``runs/*.toml``, ``Makefile``,
  ``pyproject.toml`` and ``setup.py``), with this environment's ``stackgame`` first on ``PATH``;
- ``python``: executed in the workspace, the page's Python blocks sharing one namespace
  (as a reader pasting them into one session);
- ``sql``: each statement in DuckDB in the workspace; each must return at least one row
  (a ``WHERE`` on a value that no longer exists is a broken example too);
- ``toml`` with a ``[batch]`` table: validated with ``stackgame batch FILE --dry-run``;
  other TOML as a scenario with ``stackgame run --scenario FILE --rounds 1``;
- ``text`` blocks that start with ``$ COMMAND`` are output examples: the command runs,
  must exit 0, and every column of every table header in the example (a line above a
  rule of dashes) must appear in a table header of the real output.

Other blocks (no language, ``text`` without a ``$`` line) are not run. A block runs as
written unless HTML comments right above its fence (blank lines between are allowed) say
otherwise; they stay visible in the page's source:

``<!-- doctest: skip: REASON -->``
    do not run it (the reason is required);
``<!-- doctest: replace "OLD" with "NEW" -->``
    run it with ``OLD`` replaced by ``NEW`` (``OLD`` must occur: a stale substitution is
    an error). ``NEW`` may name ``{dask_scheduler}``, the address of a Dask scheduler
    the harness starts.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

SHELL = {"sh", "bash", "shell"}
PYTHON = {"python", "py", "python3"}
RUNNABLE = SHELL | PYTHON | {"sql", "toml", "text"}

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
_DIRECTIVE = re.compile(r"^\s*<!--\s*doctest:\s*(?P<body>.*?)\s*-->\s*$")
_REPLACE = re.compile(r'^replace\s+"(?P<old>(?:[^"\\]|\\.)*)"\s+with\s+"(?P<new>(?:[^"\\]|\\.)*)"$')
_RULE = re.compile(r"^\s*-{3,}(\s+-{3,})*\s*$")

BLOCK_TIMEOUT = 600


class DocBlockError(AssertionError):
    """A block of a page failed: names the page, the line and what went wrong."""


@dataclass
class Block:
    """One fenced block of a page."""

    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    directives: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page}:{self.line} ({self.lang or 'plain'})"

    @property
    def skip_reason(self) -> str | None:
        for d in self.directives:
            if d.startswith("skip"):
                reason = d.partition(":")[2].strip()
                if not reason:
                    raise DocBlockError(f"{self.where}: a skip directive needs a reason")
                return reason
        return None

    def runnable(self) -> bool:
        if self.lang == "text":
            return self.code.lstrip().startswith("$ ")
        return self.lang in RUNNABLE

    def source(self, values: dict[str, str]) -> str:
        """The code with every ``replace`` directive applied (each must match)."""
        code = self.code
        for d in self.directives:
            if d.startswith("skip"):
                continue
            m = _REPLACE.match(d)
            if not m:
                raise DocBlockError(f"{self.where}: unknown doctest directive {d!r}")
            old, new = (s.replace('\\"', '"') for s in (m["old"], m["new"]))
            if old not in code:
                raise DocBlockError(f"{self.where}: replace: {old!r} is not in the block")
            for key, value in values.items():
                new = new.replace("{" + key + "}", value)
            code = code.replace(old, new)
        return code


def parse(page: Path) -> list[Block]:
    """Every fenced block of ``page`` with the directives above it."""
    lines = page.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m["fence"], m["lang"].lower(), i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(
                lines[i][len(m["indent"]) :] if lines[i].startswith(m["indent"]) else lines[i]
            )
            i += 1
        i += 1
        directives: list[str] = []
        j = start - 1
        while j >= 0 and (not lines[j].strip() or _DIRECTIVE.match(lines[j])):
            if d := _DIRECTIVE.match(lines[j]):
                directives.insert(0, d["body"])
            j -= 1
        blocks.append(Block(page, start + 1, lang, "\n".join(body) + "\n", directives))
    return blocks


# -- the workspace and the runners -------------------------------------------------------


def make_workspace(folder: Path) -> Path:
    """A folder that looks like a fresh checkout to the commands the pages show."""
    (folder / "runs").mkdir(parents=True, exist_ok=True)
    for spec in (ROOT / "runs").glob("*.toml"):
        shutil.copy(spec, folder / "runs" / spec.name)
    for name in ("Makefile", "pyproject.toml", "setup.py"):  # what `make -n` looks at
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, folder / name)
    return folder


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    env["TQDM_DISABLE"] = "1"  # progress bars would fill the failure messages
    env.pop("MAKEFLAGS", None)
    return env


def _run(args: list[str], cwd: Path, where: str) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(
            args, cwd=cwd, env=environment(), capture_output=True, text=True,
            timeout=BLOCK_TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise DocBlockError(f"{where}: still running after {BLOCK_TIMEOUT} s") from None
    if done.returncode != 0:
        raise DocBlockError(
            f"{where}: exit code {done.returncode}\n--- stdout\n{done.stdout[-3000:]}"
            f"\n--- stderr\n{done.stderr[-3000:]}"
        )
    return done


def run_shell(block: Block, code: str, cwd: Path) -> None:
    _run(["bash", "-eo", "pipefail", "-c", code], cwd, block.where)


def run_python(block: Block, code: str, cwd: Path, namespace: dict[str, Any]) -> None:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        exec(compile(code, block.where, "exec"), namespace)  # noqa: S102 - the doc's own code
    except Exception as err:
        raise DocBlockError(f"{block.where}: {type(err).__name__}: {err}") from err
    finally:
        os.chdir(old)


def run_sql(block: Block, code: str, cwd: Path) -> None:
    import duckdb

    old = Path.cwd()
    os.chdir(cwd)
    try:
        con = duckdb.connect()
        statements = con.extract_statements(code)
        if not statements:
            raise DocBlockError(f"{block.where}: no SQL statement")
        for statement in statements:
            try:
                rows = con.execute(statement).fetchall()
            except duckdb.Error as err:
                raise DocBlockError(f"{block.where}: {err}") from err
            if not rows:
                raise DocBlockError(f"{block.where}: a query returned no rows:\n{statement}")
    finally:
        os.chdir(old)


def run_toml(block: Block, code: str, cwd: Path) -> None:
    path = cwd / "runs" / f"doc-block-{block.line}.toml"
    path.write_text(code)
    if re.search(r"^\[batch\]", code, re.M):
        _run(["stackgame", "batch", str(path), "--dry-run"], cwd, block.where)
    else:
        _run(["stackgame", "run", "--scenario", str(path), "--rounds", "1"], cwd, block.where)


def table_headers(text: str) -> set[str]:
    """Column names of every table header in ``text`` (a line above a rule of dashes)."""
    lines = text.splitlines()
    names: set[str] = set()
    for above, line in zip(lines, lines[1:], strict=False):
        if _RULE.match(line) and above.strip():
            names.update(c.strip() for c in re.split(r"\s{2,}", above.strip()) if c.strip())
    return names


def check_output_example(block: Block, code: str, cwd: Path) -> None:
    first, _, example = code.lstrip().partition("\n")
    command = shlex.split(first[2:])
    done = _run(command, cwd, block.where)
    missing = table_headers(example) - table_headers(done.stdout)
    if missing:
        raise DocBlockError(
            f"{block.where}: the example's table columns {sorted(missing)} are not in the "
            f"output of `{first[2:]}`:\n{done.stdout[:3000]}"
        )


def run_page(page: Path, cwd: Path, values: dict[str, str]) -> list[str]:
    """Run every runnable block of ``page`` in order; return what ran and what was skipped."""
    namespace: dict[str, Any] = {"__name__": "__doc__"}
    log = []
    for block in parse(page):
        if not block.runnable():
            continue
        reason = block.skip_reason
        if reason is not None:
            log.append(f"skipped {block.where}: {reason}")
            continue
        code = block.source(values)
        start = time.perf_counter()
        if block.lang in SHELL:
            run_shell(block, code, cwd)
        elif block.lang in PYTHON:
            run_python(block, code, cwd, namespace)
        elif block.lang == "sql":
            run_sql(block, code, cwd)
        elif block.lang == "toml":
            run_toml(block, code, cwd)
        else:
            check_output_example(block, code, cwd)
        log.append(f"ran {block.where} in {time.perf_counter() - start:.1f} s")
    return log
