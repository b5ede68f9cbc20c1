"""Engines by name: how the backend builds each one, once per process, and keeps it warm.

An engine may take a long time to load (diffusion weights), so the service asks the registry for an
engine by name and gets the same instance for every job. Each entry is a factory taking the serve
command's :class:`EngineOptions`, imported only when first used, so a backend without torch still
serves ``preview``. A new engine is one entry in :data:`FACTORIES`.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import UserError
from .base import Engine

DEFAULT_ENGINE = "preview"


@dataclass(frozen=True)
class EngineOptions:
    """What ``tpc-backend serve`` tells engines about this machine."""

    models: Path | None = None  # local folder of model weights (--models)


def _preview(options: EngineOptions) -> Engine:
    from .preview import PreviewEngine

    return PreviewEngine()


def _diffusion(options: EngineOptions) -> Engine:
    if options.models is None:
        raise UserError(
            "the diffusion engine needs a models folder: start the backend with `tpc-backend serve --models DIR`",
            "missing_models",
        )
    try:
        module = importlib.import_module("tpc_backend.engines.diffusion.engine")
    except ImportError as error:
        raise UserError(
            f"the diffusion engine cannot load ({error}); install TPC Animate with its diffusion extra "
            "(pip install 'tpc-animate[diffusion]')",
            "missing_dependency",
        ) from None
    return module.DiffusionEngine(options.models)


FACTORIES: dict[str, Callable[[EngineOptions], Engine]] = {"preview": _preview, "diffusion": _diffusion}


class EngineRegistry:
    """The engines of one backend process, built on first use and then shared by every job."""

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    @staticmethod
    def names() -> list[str]:
        return list(FACTORIES)

    def check(self, name: str) -> None:
        """Raise a UserError naming the known engines when ``name`` is not one of them."""
        if name not in FACTORIES:
            raise UserError(f"unknown engine {name!r}; this backend knows {', '.join(FACTORIES)}", "unknown_engine")

    def get(self, name: str) -> Engine:
        self.check(name)
        with self._lock:
            if name not in self._engines:
                self._engines[name] = FACTORIES[name](self.options)
            return self._engines[name]
