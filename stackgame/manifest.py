"""Output folders and their manifest: command, seed, scenario hash, versions, git revision."""

from __future__ import annotations

import hashlib
import json
import platform
import re
import subprocess
import sys
from collections.abc import Mapping
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


_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")
_READABLE_CHARS = 48


def _slug(text: str) -> str:
    """Characters safe in a folder name on every system; runs of others become ``-``."""
    return _UNSAFE.sub("-", text).strip("-.") or "x"


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


def _readable(items: list[str]) -> str:
    """Whole changes joined by ``+`` while they fit in 48 characters (the first one cut)."""
    text = ""
    for item in (_slug(i) for i in items):
        joined = f"{text}+{item}" if text else item
        if len(joined) > _READABLE_CHARS:
            return text or item[:_READABLE_CHARS].rstrip("-.=+")
        text = joined
    return text


def output_name(
    scenario: str,
    seed: int | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    strategies: Mapping[str, Any] | None = None,
    rounds: int | None = None,
    extra: Mapping[str, Any] | None = None,
    prefix: str = "",
) -> str:
    """The default output folder name of a command: what made it, readable and stable.

    ``<prefix><scenario>-seed<K>`` for the plain case (``ai-stack-2026-seed0``, the
    baseline of ``stackgame run``). Any change to the scenario adds
    ``-<readable>-<hash>``: ``<readable>`` lists the ``--set`` and ``--strategy`` changes
    (``regulator.stance=0.9+nvidia=q_learning``, as many whole changes as fit in 48
    characters) and ``<hash>`` is
    the first 8 hex digits of the SHA-256 of every change (overrides, strategies and
    ``extra``, e.g. a scenario file's digest or a tournament's spec) in canonical JSON,
    so two different what-ifs never share a folder and the same one always finds its own.

    Parameters
    ----------
    scenario
        The scenario's (or game's) name.
    seed
        The root seed; ``None`` leaves ``-seed<K>`` out.
    overrides, strategies
        ``--set`` paths to values and ``--strategy`` firms to strategy names.
    rounds
        Rounds, when not the scenario's own number (shown as ``rounds=K``).
    extra
        Anything else that changes the result and belongs in the hash only.
    prefix
        Put before the name (``"equilibria/"`` for a subfolder).

    Examples
    --------
    >>> output_name("ai-stack-2026", 0)
    'ai-stack-2026-seed0'
    >>> output_name("ai-stack-2026", 0, overrides={"regulator.stance": 0.9})
    'ai-stack-2026-seed0-regulator.stance=0.9-ebe82e48'
    """
    name = _slug(scenario) + ("" if seed is None else f"-seed{seed}")
    changes: dict[str, Any] = {}
    readable: list[str] = []
    if overrides:
        changes["set"] = {str(k): overrides[k] for k in sorted(overrides)}
        readable += [f"{k}={_value_text(v)}" for k, v in changes["set"].items()]
    if strategies:
        changes["strategy"] = {str(k): strategies[k] for k in sorted(strategies)}
        readable += [f"{k}={_value_text(v)}" for k, v in changes["strategy"].items()]
    if rounds is not None:
        changes["rounds"] = int(rounds)
        readable.append(f"rounds={int(rounds)}")
    if extra:
        changes["extra"] = dict(extra)
    if changes:
        blob = json.dumps(changes, sort_keys=True, default=str, allow_nan=True)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:8]
        text = _readable(readable)
        name += (f"-{text}" if text else "") + f"-{digest}"
    return prefix + name


def scenario_change(source: str | Path, name: str, digest: str) -> dict[str, str]:
    """What a scenario file changes against the built-in of its name, for :func:`output_name`.

    Empty for a built-in scenario (or a file identical to the built-in it names);
    otherwise ``{"scenario": digest}``, so an edited copy of ``ai-stack-2026`` never
    writes into the baseline's folder.
    """
    from stackgame.environment.scenario import builtin_names, resolve

    if str(source) in builtin_names():
        return {}
    if name in builtin_names() and resolve(name).digest() == digest:
        return {}
    return {"scenario": digest}


def output_dir(out: str | Path | None, default_name: str) -> Path:
    """The output folder: ``out`` if given, else ``runs/out/<default_name>``; created.

    ``default_name`` comes from :func:`output_name`, so every command names its default
    folder the same way.
    """
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
