"""Architecture specs: how to recognise a state dict and build our network from it.

``detect`` may give a false positive but never a false negative; ``before``
orders detection so that a more specific spec is tried first. ``build`` reads
every hyperparameter from tensor shapes, never from user flags.

Importing this module imports torch and the network definitions: only model
loading does that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from framefill.errors import UnsupportedModelError

__all__ = ["ArchSpec", "ArchRegistry", "ARCHS"]

StateDict = dict[str, Any]


@dataclass(frozen=True)
class ArchSpec:
    id: str
    task: str  # interpolate | upscale
    detect: Callable[[StateDict], bool]
    build: Callable[[StateDict], Any]
    before: tuple[str, ...] = ()


class ArchRegistry:
    """Specs by id; ``add`` rejects a duplicate id without changing anything."""

    def __init__(self) -> None:
        self._specs: dict[str, ArchSpec] = {}

    def add(self, spec: ArchSpec) -> None:
        if spec.id in self._specs:
            raise ValueError(f"architecture {spec.id!r} is already registered")
        self._specs[spec.id] = spec

    def get(self, arch_id: str) -> ArchSpec:
        if arch_id not in self._specs:
            raise UnsupportedModelError(f"no architecture {arch_id!r}", tried=tuple(self._specs))
        return self._specs[arch_id]

    def __iter__(self) -> Iterator[ArchSpec]:
        return iter(self._ordered())

    def _ordered(self) -> list[ArchSpec]:
        specs = list(self._specs.values())
        ordered: list[ArchSpec] = []
        for spec in specs:
            # Place a spec before every spec it names in `before`.
            idx = min((ordered.index(s) for s in ordered if s.id in spec.before), default=len(ordered))
            ordered.insert(idx, spec)
        return ordered

    def detect(self, state_dict: StateDict, *, task: str | None = None) -> ArchSpec:
        """The first spec that recognises ``state_dict``.

        Raises:
            UnsupportedModelError: none did; the message lists what was tried.
        """
        tried = []
        for spec in self._ordered():
            if task is not None and spec.task != task:
                continue
            tried.append(spec.id)
            if spec.detect(state_dict):
                return spec
        raise UnsupportedModelError("the weights match no known architecture", tried=tuple(tried))


def _default_registry() -> ArchRegistry:
    from framefill.models.arch import rife, rrdbnet, srvgg

    registry = ArchRegistry()
    registry.add(ArchSpec("rife-4", "interpolate", rife.detect_v4, rife.build_v4, before=("rife-hdv3",)))
    registry.add(ArchSpec("rife-hdv3", "interpolate", rife.detect_hdv3, rife.build_hdv3))
    registry.add(ArchSpec("rrdbnet", "upscale", rrdbnet.detect, rrdbnet.build))
    registry.add(ArchSpec("srvgg", "upscale", srvgg.detect, srvgg.build))
    return registry


ARCHS = _default_registry()
