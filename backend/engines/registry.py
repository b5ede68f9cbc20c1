"""Engines by name: which can run in this backend, and each built once per process and kept warm.

An engine may take a long time to load (diffusion weights), so the service asks the registry for an
engine by name and gets the same instance for every job. Each entry is a factory taking the serve
command's :class:`EngineOptions`, imported only when first used, so a backend without torch still
serves ``preview``, and a cheap check of whether the engine can run here at all (for diffusion: its
models folder's manifest and configs, not its weights). The checks run when the backend starts, so
``hello`` lists only engines a job can use, a job for another is refused before it is journaled,
and a broken ``--models`` folder stops the backend at once instead of failing the first job that
needs it. A new engine is one entry in :data:`ENGINES`.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tpc_protocol.errors import ErrorCode

from ..errors import UserError
from .base import Engine

DEFAULT_ENGINE = "preview"


@dataclass(frozen=True)
class EngineOptions:
    """What ``tpc-backend serve`` tells engines about this machine."""

    models: Path | None = None  # local folder of model weights (--models)


@dataclass(frozen=True)
class EngineEntry:
    """How to build one engine, and how to tell cheaply, before any job, whether it can run here."""

    build: Callable[[EngineOptions], Engine]
    # Why the engine cannot run with these options (None: it can). Raises UserError when an option
    # given for it is unusable, which stops the backend at start.
    unavailable: Callable[[EngineOptions], UserError | None] = lambda options: None


def _preview(options: EngineOptions) -> Engine:
    from .preview import PreviewEngine

    return PreviewEngine()


_DIFFUSION_PACKAGES = ("torch", "diffusers", "transformers")


def _diffusion_unavailable(options: EngineOptions) -> UserError | None:
    if options.models is None:
        return UserError(
            "the diffusion engine needs a models folder: start the backend with `tpc-backend serve --models DIR`",
            ErrorCode.MISSING_MODELS,
        )
    missing = [name for name in _DIFFUSION_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(
            f"the diffusion engine cannot load without {', '.join(missing)}; install TPC Animate with its diffusion "
            "extra (pip install 'tpc-animate[diffusion]')",
            ErrorCode.MISSING_DEPENDENCY,
        )
    from .diffusion.model_folder import ModelFolder

    ModelFolder.read(options.models)  # the manifest and every component's config; no weights
    return None


def _diffusion(options: EngineOptions) -> Engine:
    try:
        module = importlib.import_module("tpc_backend.engines.diffusion.engine")
    except ImportError as error:
        raise UserError(
            f"the diffusion engine cannot load ({error}); install TPC Animate with its diffusion extra "
            "(pip install 'tpc-animate[diffusion]')",
            ErrorCode.MISSING_DEPENDENCY,
        ) from None
    return module.DiffusionEngine(options.models)


ENGINES: dict[str, EngineEntry] = {
    "preview": EngineEntry(_preview),
    "diffusion": EngineEntry(_diffusion, _diffusion_unavailable),
}


class EngineRegistry:
    """The engines of one backend process: checked at construction, built on first use, then shared.

    Raises :class:`UserError` when an option given for an engine is unusable (a broken models folder).
    """

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        self._unavailable: dict[str, UserError] = {}
        for name, entry in ENGINES.items():
            problem = entry.unavailable(self.options)
            if problem is not None:
                self._unavailable[name] = problem
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """The engines jobs can use in this backend."""
        return [name for name in ENGINES if name not in self._unavailable]

    def unavailable(self) -> dict[str, str]:
        """The other engines, each with the sentence that says why it cannot run and what to do."""
        return {name: str(problem) for name, problem in self._unavailable.items()}

    def check(self, name: str) -> None:
        """Raise a UserError when ``name`` is no engine, or one that cannot run in this backend."""
        if name not in ENGINES:
            raise UserError(f"unknown engine {name!r}; this backend knows {', '.join(ENGINES)}", ErrorCode.UNKNOWN_ENGINE)
        problem = self._unavailable.get(name)
        if problem is not None:
            raise UserError(str(problem), problem.code)

    def get(self, name: str) -> Engine:
        self.check(name)
        with self._lock:
            if name not in self._engines:
                self._engines[name] = ENGINES[name].build(self.options)
            return self._engines[name]
