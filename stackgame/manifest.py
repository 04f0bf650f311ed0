"""Output folders and their manifest: command, seed, scenario hash, versions, git revision."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("stackgame", "mesa", "numpy", "pandas", "pyarrow", "networkx", "matplotlib")


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the numbers."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_revision() -> str | None:
    """The git revision of the source tree, with ``-dirty`` if it has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def output_dir(out: str | Path | None, default_name: str) -> Path:
    """The output folder: ``out`` if given, else ``runs/out/<default_name>``; created."""
    path = Path(out) if out is not None else Path("runs") / "out" / default_name
    path.mkdir(parents=True, exist_ok=True)
    return path


def manifest(
    command: list[str] | str | None = None,
    seed: int | None = None,
    scenario_hash: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The manifest dictionary (no timestamps: same inputs, same manifest)."""
    if command is None:
        command = ["stackgame", *sys.argv[1:]]
    return {
        "command": command if isinstance(command, str) else " ".join(command),
        "seed": seed,
        "scenario_hash": scenario_hash,
        "versions": versions(),
        "git_revision": git_revision(),
        **extra,
    }


def write_manifest(folder: str | Path, **fields: Any) -> Path:
    """Write ``manifest.json`` into ``folder`` (see :func:`manifest` for the fields)."""
    path = Path(folder) / "manifest.json"
    from stackgame import strict_json

    return strict_json.write(path, manifest(**fields), sort_keys=True)
