"""Package discovery for the folder mapping in ``pyproject.toml``.

``pyproject.toml`` maps four folders into one import namespace (``agents/`` is installed as
``stackgame.agents``, and so on: ``[tool.setuptools] package-dir``). Setuptools' own
``packages.find`` searches one folder tree under its own names and cannot follow that
mapping, so a hand-kept list of packages was the alternative, and it fell behind (a wheel
without ``stackgame.commands``). Here every package under each mapped folder is found,
data folders such as ``environment/scenarios`` included, so a new subpackage needs no edit.
The mapping itself is read from ``pyproject.toml``: it is written in one place.
"""

import tomllib
from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).resolve().parent


def package_dirs() -> dict[str, str]:
    """The ``package-dir`` mapping of ``pyproject.toml``: import name -> folder."""
    with open(HERE / "pyproject.toml", "rb") as fh:
        return dict(tomllib.load(fh)["tool"]["setuptools"]["package-dir"])


def mapped_packages() -> list[str]:
    """Every package (folder) under each mapped folder, named in the installed namespace."""
    found = []
    for name, folder in package_dirs().items():
        found.append(name)
        found += [
            f"{name}.{sub}"
            for sub in find_namespace_packages(str(HERE / folder))
            if "__pycache__" not in sub.split(".")
        ]
    return sorted(found)


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import it
    setup(packages=mapped_packages())
