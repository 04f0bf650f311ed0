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


QUICK = """
import logging, sys
from stackgame.lazy_imports import defer_optional_mesa
assert defer_optional_mesa()
import mesa
from mesa import mesa_logging
assert mesa_logging.create_module_logger.__module__ == "stackgame.lazy_imports"
assert "mesa.model" in mesa_logging._module_loggers  # the caller's module, as inspect gave
assert mesa.model._mesa_logger.name == "MESA.mesa.model"
def made_here():
    return mesa_logging.create_module_logger()
assert made_here().name == "MESA.__main__"
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
logger = logging.getLogger("MESA.mesa.model")
logger.addHandler(Keep())
logger.setLevel(logging.DEBUG)
mesa.Model(rng=1)
assert records and records[0].startswith("calling Model.__init__ with ()"), records
assert mesa.Model.__init__.__name__ == "__init__"
print("ok")
"""


def test_mesa_s_loggers_get_the_names_inspect_gave():
    """The class name (``Model``) and module name (``mesa.model``) inspect read, from frames."""
    done = subprocess.run([sys.executable, "-c", QUICK], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_quick_loggers_leaves_an_unknown_module_alone():
    import types

    from stackgame.lazy_imports import quick_loggers

    module = types.ModuleType("not_mesa_logging")
    assert not quick_loggers(module)
    assert not hasattr(module, "create_module_logger")
