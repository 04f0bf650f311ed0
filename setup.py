"""Package discovery for the folder mapping in ``pyproject.toml``.

``pyproject.toml`` maps four folders into one import namespace (``agents/`` is installed as
``stackgame.agents``, and so on: see ``[tool.setuptools] package-dir``). Setuptools' own
``packages.find`` searches one folder tree under its own names and cannot follow that
mapping, so a hand-kept list of packages was the alternative, and it fell behind (a wheel
without ``stackgame.commands``). Here every package under each mapped folder is found, data
folders such as ``environment/scenarios`` included, so a new subpackage needs no edit.
"""

from setuptools import find_namespace_packages, setup

FOLDERS = {
    "stackgame": "stackgame",
    "stackgame.agents": "agents",
    "stackgame.environment": "environment",
    "stackgame.strategies": "strategies",
}


def mapped_packages() -> list[str]:
    """Every package (folder) under each mapped folder, named in the installed namespace."""
    found = []
    for name, folder in FOLDERS.items():
        found.append(name)
        found += [
            f"{name}.{sub}"
            for sub in find_namespace_packages(folder, exclude=["*__pycache__*"])
            if "__pycache__" not in sub
        ]
    return sorted(found)


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import it
    setup(packages=mapped_packages())
