"""report.html opens in headless Chromium without errors and draws its plot and thumbnails.

Needs the Debian ``chromium`` package (``apt-get install -y chromium``); the test fails,
not skips, without it. The page is made from a small synthetic shot filled by the
classical flow model (no weights), with a threshold high enough that every filled
frame is flagged, so every thumbnail row is drawn.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from framefill.pipeline.fill import FillOptions, fill_sequence
from framefill.pipeline.qc import qc_sequence
from framefill.pipeline.report import PLOT_HEIGHT_PX, PLOT_WIDTH_PX, layout_of
from framefill.requests import QcRequest
from synthetic_shot import write_shot

WINDOW_WIDTH_PX = 1100
RISK_RGB = (0xE8, 0x59, 0x0C)  # the risk curve's colour in report.py
PSNR_RGB = (0x19, 0x71, 0xC2)  # the true-PSNR curve's colour


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("headless Chromium not found: install the Debian `chromium` package (apt-get install -y chromium)")


def _run_chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--hide-scrollbars", "--force-device-scale-factor=1",
            f"--user-data-dir={tmp / 'chromium-profile'}", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    from framefill.models.interp import DisFlowInterpolator

    root = tmp_path_factory.mktemp("report")
    truth = write_shot(root / "truth", range(1, 10), fg_speed=6)
    keys = write_shot(root / "keys", (1, 3, 5, 7, 9), fg_speed=6)
    out = str(root / "out" / "shot.####.exr")
    fill_sequence(keys, out, frames=range(1, 10), interpolator=DisFlowInterpolator(),
                  options=FillOptions(model_id="flow"))
    result = qc_sequence(QcRequest(out, truth=truth, report_dir=root / "qc", threshold_db=60.0))
    assert result.rerender == (2, 4, 6, 8)
    return Path(result.report_html)


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def test_report_loads_without_errors(report, tmp_path):
    proc = _run_chromium(tmp_path, f"--window-size={WINDOW_WIDTH_PX},1200", "--dump-dom", report.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'data-status="ok"' in dom, re.findall(r'data-errors="[^"]*"', dom)
    assert 'data-errors="[]"' in dom
    assert _console_errors(proc.stderr) == []
    layout = layout_of(dom)
    assert layout is not None and layout["plot"][2:] == [PLOT_WIDTH_PX, PLOT_HEIGHT_PX]
    assert len(layout["thumbs"]) == 4 * 3  # 4 flagged frames x (frame, risk, true error)


def test_screenshot_shows_the_plot_curves_and_the_thumbnails(report, tmp_path):
    import cv2

    dom = _run_chromium(tmp_path, f"--window-size={WINDOW_WIDTH_PX},1200", "--dump-dom", report.as_uri()).stdout
    layout = layout_of(dom)
    assert layout is not None
    height = max(y + h for _, y, _, h in layout["thumbs"]) + 40
    png = tmp_path / "report.png"
    proc = _run_chromium(tmp_path, f"--window-size={WINDOW_WIDTH_PX},{height}", f"--screenshot={png}",
                         report.as_uri())
    assert proc.returncode == 0 and png.is_file(), proc.stderr[-2000:]
    image = cv2.imread(str(png), cv2.IMREAD_COLOR)[..., ::-1].astype(np.int32)  # RGB
    assert image.shape[:2] == (height, WINDOW_WIDTH_PX)

    def count(region: np.ndarray, rgb: tuple[int, int, int]) -> int:
        return int(np.sum(np.all(np.abs(region - np.array(rgb)) <= 12, axis=-1)))

    x, y, w, h = layout["plot"]
    plot = image[y : y + h, x : x + w]
    assert count(plot, RISK_RGB) > 200, "the risk curve is not drawn"
    assert count(plot, PSNR_RGB) > 200, "the true-PSNR curve is not drawn"
    for x, y, w, h in layout["thumbs"]:
        thumb = image[y + 2 : y + h - 2, x + 2 : x + w - 2]
        assert thumb.size and float(thumb.std()) > 8.0, f"thumbnail at {(x, y)} is blank"
        assert count(thumb, (255, 255, 255)) < thumb.shape[0] * thumb.shape[1] // 2
    # Risk thumbnails carry the heatmap ramp: warm pixels, far from grey.
    risk_thumbs = [t for i, t in enumerate(layout["thumbs"]) if i % 3 == 1]
    warm = 0
    for x, y, w, h in risk_thumbs:
        t = image[y : y + h, x : x + w]
        warm += int(np.sum((t[..., 0] - t[..., 2]) > 60))
    assert warm > 100, "no heatmap colour in the risk thumbnails"


def test_report_page_names_no_external_resource(report):
    page = report.read_text()
    assert not re.search(r"(https?:|<link|src=\"(?!data:))", page, re.IGNORECASE)
    assert json.loads(Path(report.parent / "qc.json").read_text())["rerender"] == "2-8:2"
