"""The ncnn converter on tiny hand-written param/bin pairs: exact tensors, official keys,
the computation they describe, and one-line errors for files that are not our nets."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from framefill.errors import InputError, UnsupportedModelError
from framefill.models.ncnn_convert import convert_ncnn, load_ncnn, parse_param

TAG = {"fp16": 0x01306B47, "fp32": 0, "fp32raw": 0x0002C056, "int8": 0x000D4B38}
LRELU = " 9=2 -23310=1,2.000000e-01"


def _kernel(rng: np.random.Generator, cout: int, cin: int) -> np.ndarray:
    # fp16-representable values, so that every storage kind round-trips exactly
    return (rng.standard_normal((cout, cin, 3, 3)) * 0.2).astype(np.float16).astype(np.float32)


def _conv_bytes(w: np.ndarray, b: np.ndarray, storage: str) -> bytes:
    out = struct.pack("<I", TAG[storage])
    if storage == "fp16":
        raw = w.astype("<f2").tobytes()
        out += raw + b"\0" * ((-len(raw)) % 4)
    else:
        out += w.astype("<f4").tobytes()
    return out + b.astype("<f4").tobytes()


def _write(tmp_path: Path, name: str, lines: list[str], data: bytes) -> tuple[Path, Path]:
    blobs = {tok for ln in lines for tok in ln.split()[4 : 4 + int(ln.split()[2]) + int(ln.split()[3])]}
    param = tmp_path / f"{name}.param"
    param.write_text("7767517\n" + f"{len(lines)} {len(blobs)}\n" + "\n".join(lines) + "\n")
    binf = tmp_path / f"{name}.bin"
    binf.write_bytes(data)
    return param, binf


def _srvgg(rng: np.random.Generator, *, feat: int = 3, storage=("fp16", "fp32", "fp32raw"), tail: str = ""):
    """A 2x SRVGG graph (one hidden conv), as ncnn's converter writes it, plus its weights."""
    w0, w2, w4 = _kernel(rng, feat, 3), _kernel(rng, feat, feat), _kernel(rng, 12, feat)
    b0, b2, b4 = (rng.standard_normal(n).astype(np.float32) * 0.1 for n in (feat, feat, 12))
    p1, p3 = (rng.uniform(0.05, 0.4, feat).astype(np.float32) for _ in range(2))
    out = "sum" if tail else "output"
    lines = [
        "Input in 0 1 data",
        "Split sp 1 2 data d0 d1",
        f"Convolution c0 1 1 d1 a 0={feat} 1=3 4=1 5=1 6={w0.size}",
        f"PReLU p1 1 1 a b 0={feat}",
        f"Convolution c2 1 1 b c 0={feat} 1=3 4=1 5=1 6={w2.size}",
        f"PReLU p3 1 1 c e 0={feat}",
        f"Convolution c4 1 1 e f 0=12 1=3 4=1 5=1 6={w4.size}",
        "PixelShuffle ps 1 1 f g 0=2",
        "Interp up 1 1 d0 h 0=1 1=2.000000e+00 2=2.000000e+00",
        f"BinaryOp add 2 1 g h {out} 0=0",
    ] + ([tail] if tail else [])
    data = (
        _conv_bytes(w0, b0, storage[0])
        + p1.tobytes()
        + _conv_bytes(w2, b2, storage[1])
        + p3.tobytes()
        + _conv_bytes(w4, b4, storage[2])
    )
    expected = {
        "body.0.weight": w0,
        "body.0.bias": b0,
        "body.1.weight": p1,
        "body.2.weight": w2,
        "body.2.bias": b2,
        "body.3.weight": p3,
        "body.4.weight": w4,
        "body.4.bias": b4,
    }
    return lines, data, expected


def _reference_srvgg(x: torch.Tensor, sd: dict[str, np.ndarray]) -> torch.Tensor:
    """What the SRVGG graph computes, spelled out with torch functionals."""
    t = {k: torch.from_numpy(v) for k, v in sd.items()}
    y = F.prelu(F.conv2d(x, t["body.0.weight"], t["body.0.bias"], padding=1), t["body.1.weight"])
    y = F.prelu(F.conv2d(y, t["body.2.weight"], t["body.2.bias"], padding=1), t["body.3.weight"])
    y = F.pixel_shuffle(F.conv2d(y, t["body.4.weight"], t["body.4.bias"], padding=1), 2)
    return y + x.repeat_interleave(2, 2).repeat_interleave(2, 3)


def _rrdb(rng: np.random.Generator, *, nb: int = 2, nf: int = 4, gc: int = 2, beta: str = "2.000000e-01"):
    """An x4 RRDBNet graph (no Splits: our converter needs none), with weights named as we expect."""
    lines = ["Input in 0 1 data"]
    expected: dict[str, np.ndarray] = {}
    data = bytearray()
    count = iter(range(10_000))

    def conv(key: str, src: str, cin: int, cout: int, act: bool, top: str | None = None) -> str:
        top = top or f"b{next(count)}"
        w, b = _kernel(rng, cout, cin), rng.standard_normal(cout).astype(np.float32) * 0.1
        lines.append(f"Convolution {key} 1 1 {src} {top} 0={cout} 1=3 4=1 5=1 6={w.size}" + (LRELU if act else ""))
        expected[f"{key}.weight"], expected[f"{key}.bias"] = w, b
        data.extend(_conv_bytes(w, b, "fp16"))
        return top

    def layer(kind: str, srcs: list[str], params: str = "") -> str:
        top = f"b{next(count)}"
        lines.append(f"{kind} L{next(count)} {len(srcs)} 1 {' '.join(srcs)} {top} {params}".rstrip())
        return top

    first = conv("conv_first", "data", 3, nf, False)
    x = first
    for blk in range(nb):
        rrdb_in = x
        for r in (1, 2, 3):
            rdb_in, outs = x, []
            for j in (1, 2, 3, 4):
                src = rdb_in if j == 1 else layer("Concat", [rdb_in, *outs], "0=0")
                outs.append(conv(f"body.{blk}.rdb{r}.conv{j}", src, nf + (j - 1) * gc, gc, True))
            c5 = conv(f"body.{blk}.rdb{r}.conv5", layer("Concat", [rdb_in, *outs], "0=0"), nf + 4 * gc, nf, False)
            x = layer("Eltwise", [c5, rdb_in], f"0=1 -23301=2,{beta},1.000000e+00")
        x = layer("Eltwise", [x, rrdb_in], f"0=1 -23301=2,{beta},1.000000e+00")
    x = layer("BinaryOp", [first, conv("conv_body", x, nf, nf, False)], "0=0")
    x = conv("conv_up1", layer("Interp", [x], "0=1 1=2.000000e+00 2=2.000000e+00"), nf, nf, True)
    x = conv("conv_up2", layer("Interp", [x], "0=1 1=2.000000e+00 2=2.000000e+00"), nf, nf, True)
    x = conv("conv_hr", x, nf, nf, True)
    conv("conv_last", x, nf, 3, False, top="output")
    return lines, bytes(data), expected


def _assert_exact(sd: dict[str, torch.Tensor], expected: dict[str, np.ndarray]) -> None:
    assert sorted(sd) == sorted(expected)
    for key, value in expected.items():
        assert sd[key].dtype == torch.float32
        assert np.array_equal(sd[key].numpy(), value), key


def test_srvgg_converts_to_official_keys_exactly(tmp_path):
    # GIVEN an SRVGG graph whose three convs use fp16 (odd count: padded), fp32 and tagged-raw fp32 storage
    lines, data, expected = _srvgg(np.random.default_rng(1))
    param, binf = _write(tmp_path, "srvgg", lines, data)
    # WHEN converted
    sd, info = convert_ncnn(param, binf)
    # THEN every tensor is the one written, under its official name, and the graph facts are right
    _assert_exact(sd, expected)
    assert (info.family, info.net_scale, info.output_resize, info.scale) == ("srvgg", 2, None, 2)
    assert (info.in_channels, info.out_channels, info.input_blob, info.output_blob) == (3, 3, "data", "output")
    assert info.storage == ("fp16", "fp32")
    # AND the built net computes what the graph describes
    x = torch.rand(1, 3, 5, 7)
    model = load_ncnn(param, binf)
    assert (model.scale, model.arch) == (2, "srvgg")
    assert torch.allclose(model(x), _reference_srvgg(x, expected), atol=1e-6, rtol=0)


def test_srvgg_trailing_bicubic_resize(tmp_path):
    lines, data, expected = _srvgg(
        np.random.default_rng(2), tail="Interp down 1 1 sum output 0=3 1=5.000000e-01 2=5.000000e-01"
    )
    sd, info = convert_ncnn(*_write(tmp_path, "x1", lines, data))
    _assert_exact(sd, expected)
    assert (info.net_scale, info.output_resize, info.scale) == (2, 0.5, 1)


def test_rrdbnet_converts_to_official_keys_exactly(tmp_path):
    lines, data, expected = _rrdb(np.random.default_rng(3))
    param, binf = _write(tmp_path, "rrdb", lines, data)
    sd, info = convert_ncnn(param, binf)
    _assert_exact(sd, expected)
    assert (info.family, info.scale, info.output_resize, info.storage) == ("rrdbnet", 4, None, ("fp16",))
    model = load_ncnn(param, binf)
    cfg = model.net.config
    assert (cfg.num_block, cfg.num_feat, cfg.num_grow_ch, cfg.scale) == (2, 4, 2, 4)
    assert model(torch.rand(1, 3, 4, 6)).shape == (1, 3, 16, 24)


def _one_line_error(param: Path, binf: Path, match: str, kind: type = UnsupportedModelError) -> str:
    with pytest.raises(kind, match=match) as info:
        convert_ncnn(param, binf)
    assert "\n" not in info.value.msg
    return info.value.msg


def test_truncated_and_oversized_bin(tmp_path):
    lines, data, _ = _srvgg(np.random.default_rng(4))
    param, binf = _write(tmp_path, "t", lines, data[:-10])
    msg = _one_line_error(param, binf, r"truncated; layer c4 needs 48 bytes")
    assert str(binf) in msg and "framefill models fetch" in msg
    binf.write_bytes(data + b"\0" * 8)
    assert str(binf) in _one_line_error(param, binf, "8 bytes left after the last layer")


def test_unknown_layer_type(tmp_path):
    lines, data, _ = _srvgg(np.random.default_rng(5))
    lines[-1] = "Reshape rs 1 1 g g2 0=-1"
    lines.append("BinaryOp add 2 1 g2 h output 0=0")
    param, binf = _write(tmp_path, "u", lines, data)
    msg = _one_line_error(param, binf, r"unsupported ncnn layer type 'Reshape' \(layer rs\)")
    assert msg.startswith(str(param))


def test_int8_weights_refused(tmp_path):
    lines, data, _ = _srvgg(np.random.default_rng(6), storage=("int8", "fp32", "fp32"))
    _one_line_error(*_write(tmp_path, "q", lines, data), "layer c0 stores int8 weights")


def test_shape_mismatch(tmp_path):
    # c4 claims a kernel for 4 in-channels while c2 makes 3
    lines, data, _ = _srvgg(np.random.default_rng(7))
    w4 = np.zeros((12, 4, 3, 3), np.float32)
    lines[6] = f"Convolution c4 1 1 e f 0=12 1=3 4=1 5=1 6={w4.size}"
    data = data[: -(4 + 12 * 3 * 9 * 4 + 12 * 4)] + _conv_bytes(w4, np.zeros(12, np.float32), "fp32")
    _one_line_error(*_write(tmp_path, "s", lines, data), "layer c4: kernel expects 4 in-channels, its input has 3")


def test_wrong_residual_coefficient(tmp_path):
    lines, data, _ = _rrdb(np.random.default_rng(8), nb=1, beta="3.000000e-01")
    _one_line_error(*_write(tmp_path, "b", lines, data), "needs the 0.2-scaled residual sum")


def test_wrong_activation_or_resize(tmp_path):
    lines, data, _ = _srvgg(np.random.default_rng(9))
    lines[8] = "Interp up 1 1 d0 h 0=2 1=2.000000e+00 2=2.000000e+00"  # bilinear, not nearest
    _one_line_error(*_write(tmp_path, "r", lines, data), "layer up .Interp. where the graph needs a nearest x2")
    lines, data, _ = _rrdb(np.random.default_rng(10), nb=1)
    lines = [ln.replace(LRELU, " 9=1") if "conv_hr" in ln else ln for ln in lines]
    _one_line_error(*_write(tmp_path, "a", lines, data), r"layer conv_hr \(Convolution\) where the graph needs conv_hr")


def test_bad_files(tmp_path):
    param = tmp_path / "bad.param"
    param.write_text("7767518\n1 1\nInput in 0 1 data\n")
    binf = tmp_path / "bad.bin"
    binf.write_bytes(b"")
    _one_line_error(param, binf, "not an ncnn text param file")
    param.write_text("7767517\n2 2\nInput in 0 1 data\n")
    _one_line_error(param, binf, "header says 2 layers, file has 1")
    _one_line_error(tmp_path / "absent.param", binf, "absent.param not found", InputError)


def test_parse_param_values():
    (layer,) = parse_param("7767517\n1 2\nConvolution c 1 1 x y 0=8 1=3 -23310=2,2.5e-01,7 11=1.5\n")
    assert (layer.type, layer.name, layer.bottoms, layer.tops) == ("Convolution", "c", ("x",), ("y",))
    assert layer.params == {0: 8, 1: 3, 10: (0.25, 7), 11: 1.5}
    assert isinstance(layer.params[0], int) and isinstance(layer.params[10][1], int)
    with pytest.raises(UnsupportedModelError, match="bad array parameter"):
        parse_param("7767517\n1 2\nConvolution c 1 1 x y -23310=3,1.0\n")


def test_malformed_params_name_the_line(tmp_path):
    lines, data, _ = _srvgg(np.random.default_rng(11))
    lines[2] = lines[2].replace("0=3 ", "0=3 9=2 -23310=1,1.0 1=3.5 ").replace(" 1=3 ", " ", 1)
    param, binf = _write(tmp_path, "m", lines, data)
    _one_line_error(param, binf, rf"{param.name} line 5: layer c0 parameter 1=3.5 is not an integer")
    lines, data, _ = _srvgg(np.random.default_rng(12))
    lines[5] = lines[5].replace("PReLU p3", "PReLU p1")
    _one_line_error(*_write(tmp_path, "d", lines, data), "layer name 'p1' is used twice")
