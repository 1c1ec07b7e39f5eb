"""bench/gpu_check.sh, the prepared GPU check, keeps working: on this CPU it runs at tiny sizes and
measures every row it would measure on a GPU (the CUDA-only rows are reported as not measured)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ffpaths import REPO


def test_gpu_check_runs_on_the_cpu_at_tiny_sizes(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=str(REPO / "core"))
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh"), "--tiny", "--repeats", "1",
                           "--json-file", str(out)], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["tiny"] is True
    rows = {(r["size"], r["kind"], r["what"]): r for r in report["fills"]}
    for size, scale in (("1080p", 1.0), ("4K", 0.5), ("5K", 0.25)):
        network = rows[(size, "torch fp32", "network")]
        assert network["rife_scale"] == scale and network["max_diff_vs_fp32"] == 0.0
        assert network["per_second"] > 0 and rows[(size, "torch fp32", "end to end")]["per_second"] > 0
        # ONNX Runtime (CPU provider here) runs the exported graph to within 1e-3 px of torch fp32.
        assert rows[(size, "ORT CPU", "network")]["max_diff_vs_fp32"] < 1e-3
    # Whole shots through --device all (the CPU here) at --batch 1 and 2, rendered every 2nd and every 4th frame.
    assert [k for (size, k, what) in rows if what == "shot"] == [
        f"shot every {every} b{batch} x1cpu" for every in (2, 4) for batch in (1, 2)]
    assert all(r["per_second"] > 0 for r in report["fills"] if r["what"] == "shot")
    # What the host's EXR work allows end to end: its CPU seconds per filled frame, over the cores.
    hosts = [line for line in proc.stdout.splitlines() if "host EXR work per filled frame" in line]
    assert [line.split()[0] for line in hosts] == ["1080p", "4K", "5K"]
    for line, size in zip(hosts, ("1080p", "4K", "5K"), strict=True):
        cpu_s = rows[(size, "torch fp32", "end to end")]["exr_work_cpu_s"]
        assert 0 < cpu_s < rows[(size, "torch fp32", "end to end")]["seconds"] * report["cores"]
        assert f"at most {report['cores'] / cpu_s:.1f} fills/s" in line
    ratios = [line.split(":")[0] for line in proc.stdout.splitlines() if "the speed of --batch 1" in line]
    assert ratios == ["1080p shot every 2 b2 x1cpu", "1080p shot every 4 b2 x1cpu"]
    assert {(r["model"], r["kind"]) for r in report["upscale"]} == {
        ("realesr-animevideov3-x4", "torch fp32"), ("realesrgan-x4plus", "torch fp32")}
    assert all(r["fps"] > 0 for r in report["upscale"])
    assert "TINY sizes: not GPU figures" in proc.stdout
