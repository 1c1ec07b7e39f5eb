"""The review window on the sample shot under a real X server (Xvfb, not offscreen), saved as a PNG artefact.

Needs Debian's ``xvfb`` (``make xvfb``, which ``make test`` runs, installs it as
root). The test fails without it when run as root, and skips only for a user
who cannot install it. The PNG goes to the test's tmp folder, and also to
``$FRAMEFILL_TEST_ARTIFACTS/review.png`` when that variable names a folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).with_name("make_screenshot.py")
# A region whose pixels vary less than this (std of 8-bit values) is blank.
MIN_STD = 6.0


@pytest.fixture(scope="module")
def x_display():
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        if os.geteuid() == 0:
            pytest.fail("Xvfb not found: run `make xvfb` (apt-get install xvfb and Qt's xcb libraries)")
        pytest.skip("Xvfb not found and not root: install Debian's xvfb to run the screenshot test")
    number = next(n for n in range(99, 160) if not Path(f"/tmp/.X{n}-lock").exists())
    proc = subprocess.Popen([xvfb, f":{number}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    socket = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + 30
    while not socket.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"Xvfb :{number} did not start: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}")
        time.sleep(0.05)
    yield f":{number}"
    proc.terminate()
    proc.wait(timeout=10)


def test_the_review_window_on_the_sample_shot(x_display, tmp_path, record_property):
    import cv2

    png = tmp_path / "review.png"
    env = {**os.environ, "DISPLAY": x_display, "QT_QPA_PLATFORM": "xcb"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(png), "--work", str(tmp_path / "shot")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["platform"] == "xcb" and result["size"] == [960, 600]
    artifacts = os.environ.get("FRAMEFILL_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, Path(artifacts) / "review.png")
    record_property("screenshot", str(png))
    image = cv2.imread(str(png), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (600, 960, 3)
    for name, (x, y, w, h) in result["regions"].items():
        region = image[y:y + h, x:x + w]
        assert region.size and float(region.std()) > MIN_STD, f"the {name} region is blank (std {region.std():.1f})"
    # The strip shows listed fills (red) and rendered frames (grey); the curve its PSNR lines (blue, green).
    x, y, w, h = result["regions"]["strip"]
    strip = image[y + h // 2, x:x + w].astype(int)  # BGR
    assert (np.abs(strip - (0x31, 0x31, 0xE0)).max(axis=1) <= 2).any()
    assert (np.abs(strip - (0x96, 0x8E, 0x86)).max(axis=1) <= 2).any()
    x, y, w, h = result["regions"]["curve"]
    curve = image[y:y + h, x:x + w].reshape(-1, 3).astype(int)
    for bgr in ((0xC2, 0x71, 0x19), (0x0D, 0x94, 0x5C)):
        assert (np.abs(curve - bgr).max(axis=1) <= 4).sum() > 50
