"""Architecture specs: how to recognise a state dict and build a typed model from it.

``detect`` may give a false positive but never a false negative; ``before``
orders detection so that a more specific spec is tried first. ``build`` reads
every hyperparameter from tensor shapes, never from user flags, and returns a
descriptor: an :class:`~framefill.models.arch.interp_model.InterpModel` or an
:class:`~framefill.models.upscale.UpscaleModel`.

This module does not import torch: :data:`ARCHS`, framefill's own registry, is
built (importing torch and the network definitions) on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union, get_args

from framefill.errors import UnsupportedModelError
from framefill.models.registry import Task

if TYPE_CHECKING:
    import torch
    from framefill.models.arch.interp_model import InterpModel
    from framefill.models.upscale import UpscaleModel

__all__ = ["StateDict", "ModelDescriptor", "ArchSpec", "ArchRegistry", "standard_archs", "ARCHS"]

StateDict = Mapping[str, "torch.Tensor"]
ModelDescriptor = Union["InterpModel", "UpscaleModel"]


@dataclass(frozen=True)
class ArchSpec:
    """One architecture: its id, its task, how to recognise its state dict and how to build it."""

    id: str
    task: Task
    detect: Callable[[StateDict], bool]
    build: Callable[[StateDict], ModelDescriptor]
    before: tuple[str, ...] = ()  # ids this spec must be tried before

    def __post_init__(self) -> None:
        if self.task not in get_args(Task):
            raise ValueError(f"architecture {self.id!r}: task must be one of {get_args(Task)}, got {self.task!r}")


class ArchRegistry:
    """Specs by id; ``add`` rejects a duplicate id or an ordering cycle without changing anything."""

    def __init__(self) -> None:
        self._specs: dict[str, ArchSpec] = {}
        self._order: tuple[ArchSpec, ...] = ()

    def add(self, spec: ArchSpec) -> None:
        if spec.id in self._specs:
            raise ValueError(f"architecture {spec.id!r} is already registered")
        # Order first, commit after: a cycle leaves the registry as it was.
        order = _detection_order([*self._specs.values(), spec])
        self._specs[spec.id] = spec
        self._order = order

    def get(self, arch_id: str) -> ArchSpec:
        if arch_id not in self._specs:
            raise UnsupportedModelError(f"no architecture {arch_id!r}", tried=tuple(self._specs))
        return self._specs[arch_id]

    def __contains__(self, arch_id: object) -> bool:
        return arch_id in self._specs

    def __iter__(self) -> Iterator[ArchSpec]:
        """Specs in detection order."""
        return iter(self._order)

    def detect(self, state_dict: StateDict, *, task: Task | None = None) -> ArchSpec:
        """The first spec (in detection order, of ``task`` when given) that recognises ``state_dict``.

        Raises:
            UnsupportedModelError: none did; the message lists what was tried.
        """
        tried = []
        for spec in self._order:
            if task is not None and spec.task != task:
                continue
            tried.append(spec.id)
            if spec.detect(state_dict):
                return spec
        raise UnsupportedModelError("the weights match no known architecture", tried=tuple(tried))

    def load(self, state_dict: StateDict, *, task: Task | None = None) -> ModelDescriptor:
        """The descriptor of the first spec that recognises ``state_dict``, built from it.

        Raises:
            UnsupportedModelError: no spec recognises it, or its shapes do not fit the one that did.
        """
        return self.detect(state_dict, task=task).build(state_dict)


def _detection_order(specs: list[ArchSpec]) -> tuple[ArchSpec, ...]:
    """Registration order, except that a spec naming others in ``before`` moves just ahead of them.

    Raises:
        ValueError: the ``before`` hints form a cycle.
    """
    # For each spec, the specs that must come first: those naming it in their `before`.
    ahead = {spec.id: [other for other in specs if spec.id in other.before] for spec in specs}
    placed: list[ArchSpec] = []
    done: set[str] = set()
    visiting: list[str] = []

    def place(spec: ArchSpec) -> None:
        if spec.id in done:
            return
        if spec.id in visiting:
            raise ValueError(f"architectures {visiting[visiting.index(spec.id):]} order each other before themselves")
        visiting.append(spec.id)
        for other in ahead[spec.id]:
            place(other)
        visiting.pop()
        placed.append(spec)
        done.add(spec.id)

    for spec in specs:
        place(spec)
    return tuple(placed)


def standard_archs() -> ArchRegistry:
    """A new registry of framefill's architectures (imports torch and the network definitions)."""
    from framefill.models.arch import dat, rife, rife_hdv3, rrdbnet, srvgg

    registry = ArchRegistry()
    registry.add(ArchSpec("rife-4", "interpolate", rife.detect_v4, rife.build_v4, before=("rife-hdv3",)))
    registry.add(ArchSpec("rife-hdv3", "interpolate", rife_hdv3.detect, rife_hdv3.build))
    registry.add(ArchSpec("rrdbnet", "upscale", rrdbnet.detect, rrdbnet.build))
    registry.add(ArchSpec("srvgg", "upscale", srvgg.detect, srvgg.build))
    registry.add(ArchSpec("dat", "upscale", dat.detect, dat.build))
    return registry


_archs: ArchRegistry | None = None
_archs_lock = threading.Lock()


def __getattr__(name: str) -> ArchRegistry:
    """``ARCHS``: framefill's registry, built on first access so that importing this module stays torch-free."""
    global _archs
    if name != "ARCHS":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _archs_lock:
        if _archs is None:
            _archs = standard_archs()
        return _archs


if TYPE_CHECKING:
    ARCHS: ArchRegistry
