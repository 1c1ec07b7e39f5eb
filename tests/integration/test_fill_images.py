"""Filling PNG, TIFF, JPEG and DPX sequences: formats kept, renders copied, resume, determinism, 8-bit PSNR."""

from __future__ import annotations

import filecmp
import hashlib
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest
from framefill import api
from framefill.errors import CancelledError
from framefill.frames import FramePattern, image_from_arrays, read_exr, write_exr
from framefill.frames.encodings import decode, encode
from framefill.requests import FillRequest

W, H = 64, 48
RENDERED = (1, 3, 5)
ALL = tuple(range(1, 6))
SAMPLE = Path(__file__).resolve().parents[2] / "core" / "framefill" / "data" / "sample_shot"


def _frame_values(frame: int, channels: int) -> np.ndarray:
    """(H, W, channels) encoded values in [0, 1]: a smooth texture sliding 2 px a frame; alpha constant 0.6."""
    rng = np.random.default_rng(7)
    tex = cv2.GaussianBlur(rng.random((H, W * 2)).astype(np.float32), (0, 0), 3.0)
    tex = (tex - tex.min()) / (tex.max() - tex.min())
    base = tex[:, 2 * frame : 2 * frame + W]
    rgb = np.stack([base, 0.8 * base + 0.1, 1.0 - base], axis=-1)
    if channels == 1:
        return base[:, :, None]
    if channels == 3:
        return rgb
    return np.concatenate([rgb, np.full((H, W, 1), 0.6, np.float32)], axis=-1)


def _write_cv2(path: Path, values: np.ndarray, bits: int) -> None:
    codes = np.rint(values * (2**bits - 1)).astype(np.uint8 if bits == 8 else np.uint16)
    if codes.shape[2] == 3:
        codes = codes[:, :, ::-1]
    elif codes.shape[2] == 4:
        codes = codes[:, :, [2, 1, 0, 3]]
    assert cv2.imwrite(str(path), np.ascontiguousarray(codes))


def _write_dpx(path: Path, values: np.ndarray, bits: int) -> None:
    """A DPX written by OpenImageIO itself, printing-density log."""
    spec = oiio.ImageSpec(W, H, values.shape[2], oiio.UINT16)
    spec.attribute("oiio:BitsPerSample", bits)
    spec.attribute("dpx:Transfer", "Printing density")
    if values.shape[2] == 4:
        spec.attribute("dpx:Packing", "Packed")
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec)
    assert out.write_image(values.astype(np.float32))
    out.close()


def _read_codes(path: Path) -> tuple[np.ndarray, int]:
    """Code values (H, W, C) and bits per channel, read back by the libraries."""
    if path.suffix == ".dpx":
        inp = oiio.ImageInput.open(str(path))
        spec = inp.spec()
        bits = spec.get_int_attribute("oiio:BitsPerSample")
        px = inp.read_image(oiio.FLOAT)
        inp.close()
        return np.rint(px.reshape(H, W, -1) * (2**bits - 1)).astype(np.int64), bits
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    bits = 8 if img.dtype == np.uint8 else 16
    return (img[:, :, None] if img.ndim == 2 else img).astype(np.int64), bits


def _shot(folder: Path, ext: str, bits: int, channels: int) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for f in ALL:  # every frame is written; the unrendered ones go aside as truth
        where = folder if f in RENDERED else folder / "truth"
        where.mkdir(exist_ok=True)
        path = where / f"shot.{f:04d}{ext}"
        (_write_dpx if ext == ".dpx" else _write_cv2)(path, _frame_values(f, channels), bits)
    return str(folder / f"shot.####{ext}")


def _psnr(a: np.ndarray, b: np.ndarray, top: int) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(top**2 / mse) if mse else float("inf")


def _frames(out: str) -> dict[str, str]:
    pat = FramePattern.parse(out)
    return {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in pat.scan().values()}


CASES = [
    pytest.param(".png", 8, 1, id="png8-grey"),
    pytest.param(".png", 8, 3, id="png8-rgb"),
    pytest.param(".png", 16, 4, id="png16-rgba"),
    pytest.param(".tif", 16, 3, id="tif16-rgb"),
    pytest.param(".tif", 8, 4, id="tif8-rgba"),
    pytest.param(".jpg", 8, 3, id="jpg8-rgb"),
    pytest.param(".jpg", 8, 1, id="jpg8-grey"),
    pytest.param(".dpx", 10, 3, id="dpx10-rgb"),
    pytest.param(".dpx", 10, 4, id="dpx10-rgba"),
]


@pytest.mark.weights
@pytest.mark.parametrize("ext,bits,channels", CASES)
def test_fills_keep_format_depth_alpha_and_renders_are_copied(tmp_path, model_files, ext, bits, channels):
    model_files("rife-4")
    shot = _shot(tmp_path / "in", ext, bits, channels)
    out = str(tmp_path / "out" / f"shot.####{ext}")
    result = api.fill_shot(FillRequest(shot, out, model="rife-4", device="cpu"))
    assert {o.frame: o.status for o in result.frames} == {f: "copied" if f in RENDERED else "filled" for f in ALL}
    src, dst = FramePattern.parse(shot), FramePattern.parse(out)
    for f in RENDERED:
        assert filecmp.cmp(src.path(f), dst.path(f), shallow=False)
    for f in (2, 4):
        made, made_bits = _read_codes(Path(dst.path(f)))
        truth, _ = _read_codes(tmp_path / "in" / "truth" / f"shot.{f:04d}{ext}")
        assert made_bits == bits and made.shape == truth.shape == (H, W, channels)
        top = 2**bits - 1
        # A 2 px slide of a smooth texture: the fill is close to the real frame.
        assert _psnr(made[:, :, :3], truth[:, :, :3], top) > 35.0
        if channels == 4:  # alpha warped like the EXR path's alpha: a constant alpha stays exactly that
            assert np.all(made[:, :, 3] == truth[:, :, 3])


@pytest.mark.weights
@pytest.mark.parametrize("ext,bits,channels", [CASES[2], CASES[7]])
def test_resume_and_determinism(tmp_path, model_files, ext, bits, channels):
    model_files("rife-4")
    shot = _shot(tmp_path / "in", ext, bits, channels)
    runs = {}
    for name in ("a", "b"):
        out = str(tmp_path / name / f"shot.####{ext}")
        api.fill_shot(FillRequest(shot, out, model="rife-4", device="cpu"))
        runs[name] = _frames(out)
    assert runs["a"] == runs["b"] and len(runs["a"]) == len(ALL)
    # Interrupted after the first fill, then run again: the same bytes.
    out = str(tmp_path / "c" / f"shot.####{ext}")
    done = []

    def report(event):
        if event.kind == "frame" and event.data.get("status") == "filled":
            done.append(event.frame)

    with pytest.raises(CancelledError):
        api.fill_shot(FillRequest(shot, out, model="rife-4", device="cpu"), report=report,
                      cancelled=lambda: len(done) >= 1)
    assert 0 < len(_frames(out)) < len(ALL)
    again = api.fill_shot(FillRequest(shot, out, model="rife-4", device="cpu"))
    assert again.count("skipped") >= 1
    assert _frames(out) == runs["a"]


def _sample_codes(frame: int) -> np.ndarray:
    part = read_exr(SAMPLE / f"shot.{frame}.exr").parts[0]
    rgb = np.stack([part.channels[c].astype(np.float32) for c in "RGB"], axis=-1)
    return np.rint(np.clip(encode(rgb, "srgb"), 0, 1) * 255).astype(np.uint8)


@pytest.mark.weights
def test_8bit_png_fill_scores_as_the_same_fill_in_linear_exr(tmp_path, model_files):
    """The 8-bit path loses nothing beyond quantisation: PSNR (8-bit sRGB) equal to the EXR path's within 0.05 dB."""
    model_files("rife-4")
    (tmp_path / "png").mkdir()
    (tmp_path / "exr").mkdir()
    for f in (1005, 1007):
        codes = _sample_codes(f)
        assert cv2.imwrite(str(tmp_path / "png" / f"shot.{f}.png"), codes[:, :, ::-1])
        linear = decode(codes / 255.0, "srgb")  # the same pixels, as linear float EXR
        write_exr(tmp_path / "exr" / f"shot.{f}.exr",
                  image_from_arrays({c: np.ascontiguousarray(linear[:, :, i]) for i, c in enumerate("RGB")}))
    truth = _sample_codes(1006)
    scores = {}
    for ext in ("png", "exr"):
        out = tmp_path / f"out_{ext}" / f"shot.####.{ext}"
        api.fill_shot(FillRequest(str(tmp_path / ext / f"shot.####.{ext}"), str(out), model="rife-4", device="cpu"))
        made_path = FramePattern.parse(str(out)).path(1006)
        if ext == "png":
            made = cv2.imread(made_path, cv2.IMREAD_UNCHANGED)[:, :, ::-1]
        else:
            part = read_exr(made_path).parts[0]
            rgb = np.stack([part.channels[c] for c in "RGB"], axis=-1)
            made = np.rint(np.clip(encode(rgb, "srgb"), 0, 1) * 255).astype(np.uint8)
        scores[ext] = _psnr(made, truth, 255)
    assert scores["png"] > 25.0  # measured 27.01 dB (rife-4, sample shot 1005|1007 -> 1006)
    assert abs(scores["png"] - scores["exr"]) <= 0.05, scores


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "framefill", *args], capture_output=True, text=True, timeout=120)


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[str, str]]:
    mixed = tmp_path / "mixed"
    _shot(mixed, ".png", 8, 3)
    _, bad = cv2.imencode(".jpg", np.zeros((H, W, 3), np.uint8))
    (mixed / "shot.0003.png").write_bytes(bad.tobytes())  # a JPEG under a .png name
    depths = tmp_path / "depths"
    _shot(depths, ".png", 8, 3)
    _write_cv2(depths / "shot.0003.png", _frame_values(3, 3), 16)  # one 16-bit frame among 8-bit ones
    rgba = _shot(tmp_path / "rgba", ".png", 16, 4)
    from synthetic_shot import write_shot

    layers = write_shot(tmp_path / "layers", (1, 3))
    return {
        "jpeg-named-png": (str(mixed / "shot.####.png"), str(tmp_path / "o1" / "shot.####.png")),
        "mixed-depths": (str(depths / "shot.####.png"), str(tmp_path / "o2" / "shot.####.png")),
        "alpha-to-jpeg": (rgba, str(tmp_path / "o3" / "shot.####.jpg")),
        "layers-to-png": (layers, str(tmp_path / "o4" / "shot.####.png")),
    }


@pytest.mark.weights
def test_bad_inputs_are_one_line_errors_with_exit_2(tmp_path, model_files):
    model_files("rife-4")
    expected = {"jpeg-named-png": "is a JPEG file despite its .png name",
                "mixed-depths": "must have one format, bit depth and channel count",
                "alpha-to-jpeg": "JPEG has no alpha",
                "layers-to-png": "write EXR"}
    for name, (shot, out) in _bad_inputs(tmp_path).items():
        proc = _cli("interpolate", shot, "--out", out, "--device", "cpu")
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and expected[name] in lines[0], (name, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert not Path(out).parent.exists() or not any(Path(out).parent.glob("shot.*")), name
    # The file's encoding is the colour space of a raster sequence: a studio space is refused, not ignored.
    png = _shot(tmp_path / "png", ".png", 8, 3)
    proc = _cli("interpolate", png, "--out", str(tmp_path / "o5" / "shot.####.png"), "--colorspace", "ACEScg")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "decoded by their own encoding" in lines[0], proc.stderr
    assert not (tmp_path / "o5").exists()
