"""Deferred Mesa subpackages in the CLI process: not imported at start, intact on use."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from stackgame.lazy_imports import defer_optional_mesa
assert defer_optional_mesa()
assert not defer_optional_mesa()  # once
import mesa
assert "networkx" not in sys.modules and "scipy.spatial" not in sys.modules
assert mesa.space.__file__.endswith("space.py")  # read from the spec, no load
assert "networkx" not in sys.modules
grid = mesa.space.MultiGrid(3, 3, torus=False)  # first use runs the module
assert "networkx" in sys.modules and type(mesa.space).__name__ == "module"
from mesa.discrete_space import OrthogonalMooreGrid
from mesa.experimental.continuous_space import ContinuousSpace
from stackgame.simulation.simulate import simulate
print(simulate("logit-bertrand-duopoly", rounds=2, seed=1).summary["rounds"])
"""


def test_deferred_mesa_subpackages_load_on_first_use():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"


def test_nothing_is_deferred_once_mesa_is_imported():
    import mesa  # noqa: F401

    from stackgame.lazy_imports import defer_optional_mesa

    assert not defer_optional_mesa()
