"""Start-up time of the command line: parts of Mesa the engine never uses, loaded on first use.

``import mesa`` (3.3.1) imports every subpackage: ``mesa.space`` (and with it
networkx), ``mesa.experimental`` (and scipy.spatial), ``mesa.discrete_space``. The
stack model uses ``mesa.Model``, ``mesa.Agent`` and ``mesa.DataCollector`` only, so in a
``stackgame`` process those three subpackages are *deferred*: the import creates the
module object with its name, file, spec and path, and the module's code runs the first
time anything else is read from it (any attribute, or a submodule import through it).
A script or a browser page that uses ``mesa.space`` gets the same module as ever.

The difference to ``importlib.util.LazyLoader``: Mesa's logging helper calls
``inspect.stack()`` while Mesa is being imported, which reads ``__file__`` of every
module in ``sys.modules``; a LazyLoader module loads on that read, a deferred module
answers from its spec.

:func:`defer_optional_mesa` is called by :func:`stackgame.cli.main` only (library users,
tests and the browser page import Mesa as usual).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any

DEFERRED = ("mesa.space", "mesa.experimental", "mesa.discrete_space")
"""Mesa subpackages the engine does not use."""


class _DeferredModule(types.ModuleType):
    """A module whose code has not run yet: the first missing attribute runs it."""

    def __getattr__(self, name: str) -> Any:
        loader = self.__dict__.pop("__deferred_loader__", None)
        if loader is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        self.__class__ = types.ModuleType  # type: ignore[assignment]  # a plain module now
        self.__loader__ = loader
        if self.__spec__ is not None:
            self.__spec__.loader = loader
        loader.exec_module(self)
        return getattr(self, name)


class _WrappingLoader(importlib.abc.Loader):
    """A loader around the real one: the module created as usual, its code run otherwise."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        """The real loader's module (``None``: the default one)."""
        return self.loader.create_module(spec)


class _DeferringLoader(_WrappingLoader):
    """Creates the module as usual and keeps the real loader for the first access."""

    def exec_module(self, module: types.ModuleType) -> None:
        """Defer the module's code to its first use."""
        module.__dict__["__deferred_loader__"] = self.loader
        module.__class__ = _DeferredModule


class _DeferringFinder(importlib.abc.MetaPathFinder):
    """Finds the deferred names with the path finder and wraps their loader."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """The real spec with a deferring loader, for the deferred names only."""
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _DeferringLoader(spec.loader)
        return spec


QUICK_LOGGING = "mesa.mesa_logging"
"""Mesa's logging helpers, given frame reads in place of ``inspect`` (:func:`quick_loggers`)."""


def quick_loggers(module: types.ModuleType) -> bool:
    """Mesa's ``create_module_logger`` and ``method_logger`` without ``inspect``; whether done.

    Both run while ``mesa.model`` is imported: the first calls ``inspect.stack()`` for
    its caller's module name, the second ``inspect.getouterframes`` for the class being
    defined, and each reads the source of every frame on the stack and scans every
    module loaded (about 30 ms of a one-round run). The same names come from the
    caller's frame: its globals' ``__name__`` (the module ``inspect.getmodule`` finds)
    and its code's name (the class body); the loggers and the logged text are Mesa's.
    A Mesa without these helpers is left as it is.
    """
    needed = ("LOGGER_NAME", "_module_loggers", "get_module_logger")
    if not all(
        hasattr(module, name) for name in needed + ("create_module_logger", "method_logger")
    ):
        return False
    import logging
    from functools import wraps

    def create_module_logger(name: str | None = None) -> logging.Logger:
        if name is None:
            name = sys._getframe(1).f_globals["__name__"]
        logger = logging.getLogger(f"{module.LOGGER_NAME}.{name}")
        module._module_loggers[name] = logger
        return logger

    def method_logger(name: str) -> Any:
        logger = module.get_module_logger(name)
        classname = sys._getframe(1).f_code.co_name

        def real_decorator(func: Any) -> Any:
            @wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                logger.debug(f"calling {classname}.{func.__name__} with {args[1::]} and {kwargs}")
                res = func(*args, **kwargs)
                return res

            return wrapper

        return real_decorator

    create_module_logger.__doc__ = module.create_module_logger.__doc__
    method_logger.__doc__ = module.method_logger.__doc__
    module.create_module_logger = create_module_logger  # type: ignore[attr-defined]
    module.method_logger = method_logger  # type: ignore[attr-defined]
    return True


class _QuickLoggingLoader(_WrappingLoader):
    """Runs ``mesa.mesa_logging`` as usual, then :func:`quick_loggers` on it."""

    def exec_module(self, module: types.ModuleType) -> None:
        """The module's code, then the quicker helpers."""
        self.loader.exec_module(module)
        quick_loggers(module)


class _QuickLoggingFinder(importlib.abc.MetaPathFinder):
    """Finds :data:`QUICK_LOGGING` with the path finder and wraps its loader."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """The real spec with :class:`_QuickLoggingLoader`, for ``mesa.mesa_logging`` only."""
        if fullname != QUICK_LOGGING:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _QuickLoggingLoader(spec.loader)
        return spec


def defer_optional_mesa() -> bool:
    """Defer :data:`DEFERRED` if Mesa is not imported yet; whether it did.

    Mesa's logging helpers are then made quicker too (:func:`quick_loggers`).
    """
    if "mesa" in sys.modules or any(isinstance(f, _DeferringFinder) for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, _DeferringFinder(DEFERRED))
    sys.meta_path.insert(0, _QuickLoggingFinder())
    return True
