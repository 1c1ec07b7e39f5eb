"""`framefill models info NAME`: parameters, GMAC at 1080p/4K and precision deltas, as JSON and as a table."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from framefill.models.complexity import precision_table


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "framefill", "models", "info", *args], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=600)


def test_info_json_has_parameters_gmac_and_precision(model_files):
    model_files("realesr-animevideov3-x4")
    proc = _cli("realesr-animevideov3", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["name"], doc["task"], doc["arch"], doc["parameters"]) == (
        "realesr-animevideov3-x4", "upscale", "srvgg", 621_424)
    assert doc["counted_per"].startswith("input frame")
    assert [(s["label"], s["width"], s["height"], s["rife_scale"], s["macs"], s["gmac"]) for s in doc["sizes"]] == [
        ("1080p", 1920, 1080, None, 1_283_973_120_000, 1283.973),
        ("4K", 3840, 2160, None, 5_135_892_480_000, 5135.892),
    ]
    committed = precision_table()
    assert doc["precision"] == committed["models"]["realesr-animevideov3-x4"]["deltas"]
    assert set(doc["precision"]) == {"fp16", "bf16", "int8"}
    assert doc["precision_source"]["date"] == committed["date"]
    assert doc["precision_source"]["machine"] == committed["machine"]


def test_info_table_for_rife(model_files):
    model_files("rife-4")
    proc = _cli("rife-4")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "rife-4 (interpolate, rife-4): 5,664,776 parameters (5.66M)"
    assert lines[2:5] == [
        "  size   frame      net runs at  RIFE scale       GMAC",
        "  1080p  1920x1080  1920x1152    1               49.14",
        "  4K     3840x2160  3840x2304    0.5             69.26",
    ]
    bf16 = precision_table()["models"]["rife-4"]["deltas"]["bf16"]
    assert f"  bf16    {bf16['psnr_db']:>8} {bf16['max_abs_diff']:>11}" in lines
    assert "  vs fp32  PSNR dB  max |diff|" in lines


def test_info_of_a_classical_model_is_one_line():
    proc = _cli("lanczos")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "lanczos (upscale, lanczos): classical (no network): no parameters or MACs\n"


def test_unknown_model_is_one_line_exit_2():
    proc = _cli("nosuch")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "unknown model 'nosuch'" in proc.stderr


def test_missing_weights_say_how_to_fetch(tmp_path):
    proc = _cli("rife-4", FRAMEFILL_MODELS=str(tmp_path / "empty"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "run `framefill models fetch rife-4`" in proc.stderr
