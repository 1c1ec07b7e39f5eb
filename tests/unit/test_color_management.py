"""The studio's colour management: $OCIO, --config/--colorspace, EXR chromaticities, the network proxy per space."""

from __future__ import annotations

import numpy as np
import OpenEXR
import pytest
from click.testing import CliRunner
from framefill.cli import _attach_subcommands, cli
from framefill.color import (
    DEFAULT_CONFIG,
    DEFAULT_NETWORK_SPACE,
    PRIMARIES,
    ColorSetup,
    from_network,
    primaries_name,
    resolve_color,
    to_network,
)
from framefill.errors import ColorError, RequestError
from framefill.events import Event
from framefill.pipeline.job_color import job_color
from framefill.requests import FillRequest, UpscaleRequest

_attach_subcommands()

AP1 = PRIMARIES["ACES AP1"]
AP0 = PRIMARIES["ACES AP0"]
# A known patch: saturated, dark, HDR and negative values (an ACES plate holds all of them).
PATCH = np.array([[0.9, 0.05, 0.02], [0.18, 0.18, 0.18], [0.02, 0.3, 0.8], [12.0, 4.0, 0.5], [-0.01, 0.4, 0.1]],
                 dtype=np.float32)


def _write_exr(path, rgb: np.ndarray, chroma: tuple[float, ...] | None) -> None:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    if chroma is not None:
        header["chromaticities"] = chroma
    with OpenEXR.File(header, {"RGB": np.ascontiguousarray(rgb, dtype=np.float32)}) as f:
        f.write(str(path))


class _Request:
    """The colour fields of a request (what job_color reads)."""

    def __init__(self, color_config: str | None = None, colorspace: str | None = None) -> None:
        self.color, self.color_config, self.colorspace = None, color_config, colorspace


def _warnings() -> tuple[list[str], object]:
    seen: list[str] = []

    def report(event: Event) -> None:
        if event.kind == "warning":
            seen.append(event.message or "")

    return seen, report


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    scale = np.maximum(np.max(np.abs(b), axis=-1, keepdims=True), 1e-6)
    return float(np.max(np.abs(a - b) / scale))


@pytest.mark.parametrize(("chroma", "space"), [
    pytest.param(AP1, "ACEScg", id="acescg"),
    pytest.param(AP0, "ACES2065-1", id="aces2065-1"),
])
def test_aces_exr_goes_through_the_proxy_from_its_own_space(tmp_path, monkeypatch, chroma, space):
    # GIVEN an EXR whose chromaticities attribute says ACES (written with the OpenEXR bindings)
    monkeypatch.delenv("OCIO", raising=False)
    path = tmp_path / "plate.1001.exr"
    _write_exr(path, np.tile(PATCH[None], (2, 1, 1)), chroma)
    seen, report = _warnings()
    # WHEN the job's colour setup is resolved from its first frame
    setup = job_color(_Request(), path, stage="upscale", report=report)
    # THEN the input space is the ACES space, silently, and the patch round-trips through the proxy within 1e-5
    assert setup == ColorSetup(DEFAULT_CONFIG, space, DEFAULT_NETWORK_SPACE)
    assert seen == []
    back = from_network(to_network(PATCH, setup), setup)
    assert _rel(back, PATCH) < 1e-5


def _rgb_to_xyz(chroma: tuple[float, ...]) -> np.ndarray:
    xy = np.array(chroma, dtype=np.float64).reshape(4, 2)
    xyz = np.stack([xy[:, 0] / xy[:, 1], np.ones(4), (1 - xy[:, 0] - xy[:, 1]) / xy[:, 1]], axis=1)
    scale = np.linalg.solve(xyz[:3].T, xyz[3])
    return np.asarray(xyz[:3].T * scale)


def _bradford(src_white: tuple[float, float], dst_white: tuple[float, float]) -> np.ndarray:
    m = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])

    def cone(w: tuple[float, float]) -> np.ndarray:
        return np.asarray(m @ np.array([w[0] / w[1], 1.0, (1 - w[0] - w[1]) / w[1]]))

    return np.asarray(np.linalg.inv(m) @ np.diag(cone(dst_white) / cone(src_white)) @ m)


def test_network_proxy_of_acescg_red_equals_the_same_colour_in_rec709():
    # GIVEN ACEScg red, and the same colour expressed in linear Rec.709 by our own maths from the
    # primaries (RGB->XYZ from the chromaticities, Bradford from the ACES white to D65)
    red_ap1 = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)
    rec709 = PRIMARIES["Rec.709"]
    m = np.linalg.inv(_rgb_to_xyz(rec709)) @ _bradford(AP1[6:], rec709[6:]) @ _rgb_to_xyz(AP1)
    red_709 = (red_ap1.astype(np.float64) @ m.T).astype(np.float32)
    # WHEN each goes to the network proxy from its own space
    proxy_ap1 = to_network(red_ap1, ColorSetup(scene_linear="ACEScg"))
    proxy_709 = to_network(red_709, ColorSetup(scene_linear="Linear Rec.709 (sRGB)"))
    # THEN the network sees the same pixel (within 1e-5; an out-of-gamut red: negative G, B survive unclamped)
    assert red_709[0, 1] < 0 and red_709[0, 2] < 0
    assert np.max(np.abs(proxy_ap1 - proxy_709)) < 1e-5


def test_header_and_option_disagreeing_warns_in_one_line_and_the_option_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    path = tmp_path / "plate.1001.exr"
    _write_exr(path, np.ones((2, 2, 3), np.float32), AP1)
    seen, report = _warnings()
    setup = job_color(_Request(colorspace="lin_rec709"), path, stage="fill", report=report)
    assert setup.scene_linear == "Linear Rec.709 (sRGB)"
    assert len(seen) == 1 and "\n" not in seen[0]
    assert str(path) in seen[0] and "ACES AP1" in seen[0] and "using --colorspace" in seen[0]


def test_an_encoding_of_the_header_primaries_is_no_disagreement():
    # ACEScct is ACEScg's primaries with a log curve: the option names an encoding, not another gamut
    seen: list[str] = []
    setup = resolve_color(config=None, colorspace="ACEScct", chromaticities=AP1, warn=seen.append)
    assert setup.scene_linear == "ACEScct" and seen == []


def test_unknown_primaries_warn_and_fall_back():
    seen: list[str] = []
    odd = (0.6, 0.35, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329)
    assert primaries_name(odd) is None
    setup = resolve_color(config=DEFAULT_CONFIG, colorspace=None, chromaticities=odd, source="a.exr", warn=seen.append)
    assert setup.scene_linear == "Linear Rec.709 (sRGB)"
    assert len(seen) == 1 and "a.exr" in seen[0] and "--colorspace" in seen[0]


def test_no_header_keeps_the_builtin_default_and_images_default_to_srgb(tmp_path, monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    exr = tmp_path / "a.1001.exr"
    _write_exr(exr, np.ones((2, 2, 3), np.float32), None)
    assert job_color(_Request(), exr, stage="upscale", report=lambda e: None) == ColorSetup()
    png = tmp_path / "a.1001.png"
    image = job_color(_Request(), png, stage="upscale", report=lambda e: None)
    assert image.scene_linear == image.network == DEFAULT_NETWORK_SPACE
    # --colorspace names the encoding of a non-EXR input
    linear = job_color(_Request(colorspace="Linear Rec.709 (sRGB)"), png, stage="upscale", report=lambda e: None)
    assert linear.scene_linear == "Linear Rec.709 (sRGB)"


def _studio_config_file(tmp_path, *, extra_space: str) -> str:
    """The built-in config exported to a file, plus a space only that file has (an alias-free copy of ACEScg)."""
    import PyOpenColorIO as ocio

    cfg = ocio.Config.CreateFromFile(DEFAULT_CONFIG)
    cs = ocio.ColorSpace(name=extra_space)
    cs.setTransform(ocio.ColorSpaceTransform(src="ACEScg", dst="ACES2065-1"), ocio.COLORSPACE_DIR_TO_REFERENCE)
    cfg.addColorSpace(cs)
    path = tmp_path / "studio.ocio"
    path.write_text(cfg.serialize())
    return str(path)


def test_ocio_env_config_is_used(tmp_path, monkeypatch):
    # GIVEN $OCIO pointing at a config file with a space the built-in config lacks
    path = _studio_config_file(tmp_path, extra_space="Studio Plate Linear")
    with pytest.raises(RequestError) as info:
        UpscaleRequest("in.####.exr", "out.####.exr", colorspace="Studio Plate Linear")
    assert "framefill colorspaces" in info.value.msg
    monkeypatch.setenv("OCIO", path)
    # WHEN a request names that space THEN it is accepted, and the job's setup uses the file
    request = FillRequest("in.####.exr", "out.####.exr", colorspace="Studio Plate Linear")
    setup = job_color(request, None, stage="fill", report=lambda e: None)
    assert setup.config == path and setup.scene_linear == "Studio Plate Linear"
    # and the space behaves as ACEScg (its definition)
    np.testing.assert_allclose(to_network(PATCH, setup), to_network(PATCH, ColorSetup(scene_linear="ACEScg")),
                               rtol=1e-5, atol=1e-6)
    # a studio config without --colorspace or chromaticities: its scene_linear role (here ACEScg)
    assert resolve_color(config=None, colorspace=None).scene_linear == "ACEScg"


def test_config_without_the_network_space_reaches_it_through_the_interchange_role(tmp_path):
    # GIVEN a minimal studio config: ACEScg and ACES2065-1 only, with the aces_interchange role
    import PyOpenColorIO as ocio

    cfg = ocio.Config.CreateRaw()
    aces = ocio.ColorSpace(name="ACES2065-1")
    cg = ocio.ColorSpace(name="ACEScg")
    builtin = ocio.Config.CreateFromFile(DEFAULT_CONFIG)
    cg.setTransform(builtin.getColorSpace("ACEScg").getTransform(ocio.COLORSPACE_DIR_TO_REFERENCE),
                    ocio.COLORSPACE_DIR_TO_REFERENCE)
    cfg.addColorSpace(aces)
    cfg.addColorSpace(cg)
    cfg.setRole("aces_interchange", "ACES2065-1")
    cfg.setRole("scene_linear", "ACEScg")
    path = tmp_path / "tiny.ocio"
    path.write_text(cfg.serialize())
    # WHEN an ACEScg patch goes to the network proxy through that config
    setup = resolve_color(config=str(path), colorspace=None)
    proxy = to_network(PATCH, setup)
    # THEN it equals the built-in config's proxy, and comes back within 1e-5
    assert setup.scene_linear == "ACEScg"
    np.testing.assert_allclose(proxy, to_network(PATCH, ColorSetup(scene_linear="ACEScg")), rtol=1e-5, atol=1e-6)
    assert _rel(from_network(proxy, setup), PATCH) < 1e-5


@pytest.mark.parametrize(("args", "named"), [
    pytest.param(["--colorspace", "No Such Space"], "--colorspace 'No Such Space'", id="colorspace"),
    pytest.param(["--config", "/no/such/config.ocio"], "--config '/no/such/config.ocio'", id="config"),
])
@pytest.mark.parametrize("command", ["upscale", "interpolate"])
def test_bad_config_or_colorspace_is_one_line_and_exit_2(tmp_path, monkeypatch, args, named, command):
    monkeypatch.delenv("OCIO", raising=False)
    result = CliRunner().invoke(cli, [command, str(tmp_path / "in.####.exr"), "--out", str(tmp_path / "o.####.exr"),
                                      *args])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and named in lines[0]
    assert "framefill colorspaces" in lines[0] or ".ocio file" in lines[0]
    assert not list(tmp_path.iterdir())


def test_bad_ocio_env_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("OCIO", str(tmp_path / "missing.ocio"))
    with pytest.raises(ColorError) as info:
        FillRequest("in.####.exr", "out.####.exr")
    assert info.value.msg.startswith("$OCIO: ") and "missing.ocio" in info.value.msg


def test_colorspaces_command_lists_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv("OCIO", _studio_config_file(tmp_path, extra_space="Studio Plate Linear"))
    result = CliRunner().invoke(cli, ["colorspaces"])
    assert result.exit_code == 0
    assert "  Studio Plate Linear" in result.output.splitlines()
    assert "scene_linear = ACEScg" in result.output
