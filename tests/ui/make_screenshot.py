"""The review window on the bundled sample shot, as a PNG: the screenshot test's picture and docs/review.png.

    python tests/ui/make_screenshot.py --out docs/review.png --docs     # under X (e.g. xvfb-run -a)

The shot is made by framefill's own fill (flow model) and qc (with the real
renders) from the sample shot's frames 1001-1023, every 2nd rendered. The
window is 960x600 on frame 1012, wiped against its real render with the risk
map over the filled half; frame 1022 has been accepted by a person. Prints one JSON line: the PNG, its size in bytes,
Qt's platform, and the window regions of the viewer, the status strip and the
curve (x, y, width, height). ``--docs`` stores the PNG with a 256-colour
palette to keep it small.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

WINDOW_PX = (960, 600)
FRAME = 1012


def _palette(image):
    """The image with 256 colours chosen for it (k-means on a sample of its pixels), without dithering."""
    import cv2
    import numpy as np
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage

    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    pixels = np.frombuffer(rgb.constBits(), np.uint8).reshape(rgb.height(), rgb.bytesPerLine())
    pixels = pixels[:, : rgb.width() * 3].reshape(-1, 3)
    sample = pixels[np.random.default_rng(0).choice(len(pixels), 40_000)].astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    _, _, centres = cv2.kmeans(sample, 256, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    table = [0xFF000000 | (int(r) << 16) | (int(g) << 8) | int(b) for r, g, b in np.rint(centres).clip(0, 255)]
    return rgb.convertToFormat(QImage.Format.Format_Indexed8, table, Qt.ImageConversionFlag.AvoidDither)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="the PNG to write")
    parser.add_argument("--work", type=Path, help="folder for the filled shot (default: a temporary one)")
    parser.add_argument("--docs", action="store_true", help="a palette PNG, small enough for the README")
    args = parser.parse_args(argv)

    from PySide6.QtCore import QRect
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
    from review_shots import build_sample_review

    from framefill.review.display import default_look
    from framefill.review.shot import load_shot
    from framefill.review.window import ReviewWindow

    app = QApplication.instance() or QApplication(["framefill-review-screenshot"])
    work = args.work or Path(tempfile.mkdtemp(prefix="framefill-review-"))
    made = build_sample_review(work, range(1001, 1024))
    shot = load_shot(made.pattern, truth=made.truth, report_dir=made.report)
    shot.decide([1022], "accept", by="artist", at="2025-06-02T10:00:00+00:00")  # a person's decision, as A makes it
    window = ReviewWindow(shot, look=default_look(display="sRGB - Display", view="Un-tone-mapped"), user="artist")
    window.resize(*WINDOW_PX)
    window.show()
    panel = window.panel
    panel.playback.seek(FRAME)
    panel.set_reference("truth")
    panel.set_mode("wipe")
    panel.set_overlay("risk", 0.45)
    panel.features_box.setChecked(True)
    deadline = time.monotonic() + 60
    while not panel.viewer.ready() or panel.loader.busy():
        if time.monotonic() > deadline:
            print("the viewer did not finish loading within 60 s", file=sys.stderr)
            return 1
        QTest.qWait(20)
    QTest.qWait(100)  # let the window settle its layout and paint
    window.say(f"frame {FRAME}: A = filled, risk map over it; B = its real render. Keys: A accept, R send back")
    QTest.qWait(50)
    image = window.grab().toImage()
    if args.docs:
        image = _palette(image)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(args.out), "PNG", 9 if args.docs else -1):
        print(f"cannot write {args.out}", file=sys.stderr)
        return 1

    def region(widget, rect=None) -> list[int]:
        r = rect if rect is not None else QRect(0, 0, widget.width(), widget.height())
        top_left = widget.mapTo(window, r.topLeft())
        return [top_left.x(), top_left.y(), r.width(), r.height()]

    print(json.dumps({"png": str(args.out), "bytes": args.out.stat().st_size, "platform": app.platformName(),
                      "size": [image.width(), image.height()],
                      "regions": {"viewer": region(panel.viewer, panel.viewer.image_rect().toRect()),
                                  "strip": region(panel.timeline, panel.timeline.strip_rect().toRect()),
                                  "curve": region(panel.timeline, panel.timeline.curve_rect().toRect())}}))
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
