"""Packaging: every folder of code or data under the mapped folders goes into the wheel."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_module():
    spec = importlib.util.spec_from_file_location("stackgame_setup", ROOT / "setup.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines the functions; setup() runs only as __main__
    return module


def test_every_source_folder_is_a_package_of_the_wheel() -> None:
    setup = _setup_module()
    mapping = setup.package_dirs()
    assert mapping["stackgame.agents"] == "agents"  # the mapping stays
    expected = set()
    for name, folder in mapping.items():
        for path in (ROOT / folder).rglob("*"):
            if (
                path.is_file()
                and path.suffix in (".py", ".toml")
                and "__pycache__" not in str(path)
            ):
                relative = path.parent.relative_to(ROOT / folder)
                expected.add(".".join([name, *relative.parts]))
    found = set(setup.mapped_packages())
    assert {"stackgame.commands", "stackgame.environment.scenarios"} <= found
    assert expected <= found, expected - found
    assert not any("__pycache__" in p for p in found)


def test_the_scenario_files_are_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["package-data"]
    assert data["stackgame.environment.scenarios"] == ["*.toml"]
    assert list((ROOT / "environment" / "scenarios").glob("*.toml"))
