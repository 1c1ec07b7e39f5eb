"""``report.html``: one self-contained page (no network) about a QC run.

What it shows:
- the savings: frames rendered, filled, held and sent back for a re-render, and
  the farm time saved at a cost per frame;
- the re-render list as OpenJD and Nuke range strings;
- the per-frame risk curve (inline SVG), with the true PSNR overlaid where a
  real render was given, the threshold, and the flagged frames marked;
- a thumbnail of each flagged frame with its risk heatmap (and true-error
  heatmap with truth), as base64 PNGs;
- a table of every frame.

A small inline script checks that every image decoded and records any script
error, and writes the result (and where the plot and thumbnails were laid out)
into ``<body data-status data-layout>`` for headless checks. Nothing is
fetched: no fonts, scripts or images from anywhere else.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from framefill.frames import format_frame_range, read_exr, write_image
from framefill.pipeline.calibration import check_failed

if TYPE_CHECKING:
    from framefill.pipeline.calibration import Calibration
    from framefill.pipeline.qc import FrameQc, QcResult

__all__ = ["render_report", "PLOT_WIDTH_PX", "PLOT_HEIGHT_PX", "THUMB_WIDTH_PX", "MAX_THUMB_FRAMES"]

PLOT_WIDTH_PX = 960
PLOT_HEIGHT_PX = 320
# Thumbnails: big enough to see a ghosted object, small enough that 60 flagged
# frames keep the page under ~10 MB.
THUMB_WIDTH_PX = 288
MAX_THUMB_FRAMES = 60
_PSNR_AXIS_DB = (10.0, 50.0)
_COLOURS = {"risk": "#e8590c", "psnr": "#1971c2", "flag": "#c92a2a", "thr": "#868e96", "pred": "#5c940d"}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


# ---------------------------------------------------------------------------------------
# Plot
# ---------------------------------------------------------------------------------------


class _Axes:
    """The plot's frame axis (x), risk axis (left) and PSNR axis (right), in SVG pixels."""

    def __init__(self, result: QcResult) -> None:
        self.w, self.h = PLOT_WIDTH_PX, PLOT_HEIGHT_PX
        self.left, right, self.top, bottom = 56, 56, 24, 40
        self.pw, self.ph = self.w - self.left - right, self.h - self.top - bottom
        all_frames = [f.frame for f in result.frames] + list(result.rendered)
        self.lo = min(all_frames) if all_frames else 0
        hi = max(all_frames) if all_frames else 1
        self.hi = hi if hi != self.lo else self.lo + 1

    def x(self, frame: float) -> float:
        return self.left + (frame - self.lo) / (self.hi - self.lo) * self.pw

    def y_risk(self, r: float) -> float:
        return self.top + (1.0 - min(max(r, 0.0), 1.0)) * self.ph

    def y_db(self, db: float) -> float:
        p_lo, p_hi = _PSNR_AXIS_DB
        return self.top + (1.0 - (min(max(db, p_lo), p_hi) - p_lo) / (p_hi - p_lo)) * self.ph


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _scored(f: FrameQc) -> bool:
    """The frame has a finite prediction and risk (not held, not failed closed)."""
    return _finite(f.risk) and _finite(f.predicted_psnr_db)


def _plot_svg(result: QcResult) -> str:
    a = _Axes(result)
    parts = [f'<svg id="plot" width="{a.w}" height="{a.h}" viewBox="0 0 {a.w} {a.h}" role="img" '
             f'aria-label="per-frame risk and PSNR">',
             f'<rect x="0" y="0" width="{a.w}" height="{a.h}" fill="#ffffff"/>',
             f'<rect x="{a.left}" y="{a.top}" width="{a.pw}" height="{a.ph}" fill="#f8f9fa" stroke="#ced4da"/>']
    parts += _plot_axes(a, result)
    parts += _plot_curves(a, result)
    parts += _plot_markers(a, result)
    parts.append("</svg>")
    return "\n".join(parts)


def _plot_axes(a: _Axes, result: QcResult) -> list[str]:
    """Grid, axis labels, the threshold line and the rendered frames' ticks."""
    left, top, pw, ph = a.left, a.top, a.pw, a.ph
    parts = []
    for r in (0.0, 0.25, 0.5, 0.75, 1.0):
        yy = a.y_risk(r)
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e9ecef"/>')
        parts.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="{_COLOURS["risk"]}">{r:.2f}</text>')
    for db in range(int(_PSNR_AXIS_DB[0]), int(_PSNR_AXIS_DB[1]) + 1, 10):
        parts.append(f'<text x="{left + pw + 6}" y="{a.y_db(db) + 4:.1f}" font-size="11" '
                     f'fill="{_COLOURS["psnr"]}">{db} dB</text>')
    step = max(1, int(np.ceil((a.hi - a.lo) / 12)))
    for tick in range(a.lo, a.hi + 1, step):
        parts.append(f'<text x="{a.x(tick):.1f}" y="{top + ph + 16}" text-anchor="middle" font-size="11" '
                     f'fill="#495057">{tick}</text>')
    parts.append(f'<text x="{left}" y="14" font-size="12" fill="{_COLOURS["risk"]}">risk P(PSNR &lt; '
                 f'{result.threshold_db:g} dB)</text>')
    parts.append(f'<text x="{left + pw}" y="14" text-anchor="end" font-size="12" fill="{_COLOURS["psnr"]}">'
                 f'true PSNR (dB) where rendered</text>')
    ty = a.y_db(result.threshold_db)
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="{_COLOURS["thr"]}" '
                 f'stroke-dasharray="6 4"/>')
    parts.append(f'<text x="{left + 4}" y="{ty - 4:.1f}" font-size="10" fill="{_COLOURS["thr"]}">threshold '
                 f'{result.threshold_db:g} dB</text>')
    for rendered in result.rendered:
        if a.lo <= rendered <= a.hi:
            parts.append(f'<line x1="{a.x(rendered):.1f}" x2="{a.x(rendered):.1f}" y1="{top + ph - 6}" '
                         f'y2="{top + ph}" stroke="#adb5bd"/>')
    return parts


def _plot_curves(a: _Axes, result: QcResult) -> list[str]:
    """The risk curve and, with truth, the true-PSNR curve and points (finite values only)."""
    parts = []
    scored = [f for f in result.frames if _finite(f.risk)]
    if scored:
        pts = " ".join(f"{a.x(f.frame):.1f},{a.y_risk(f.risk or 0.0):.1f}" for f in scored)
        parts.append(f'<polyline class="risk-curve" points="{pts}" fill="none" stroke="{_COLOURS["risk"]}" '
                     f'stroke-width="2.5"/>')
    truth = [f for f in result.frames if _finite(f.psnr_db)]
    if truth:
        pts = " ".join(f"{a.x(f.frame):.1f},{a.y_db(f.psnr_db or 0.0):.1f}" for f in truth)
        parts.append(f'<polyline class="psnr-curve" points="{pts}" fill="none" stroke="{_COLOURS["psnr"]}" '
                     f'stroke-width="2"/>')
        for f in truth:
            parts.append(f'<circle cx="{a.x(f.frame):.1f}" cy="{a.y_db(f.psnr_db or 0.0):.1f}" r="3" '
                         f'fill="{_COLOURS["psnr"]}"><title>frame {f.frame}: true {f.psnr_db:.2f} dB</title></circle>')
    return parts


def _plot_markers(a: _Axes, result: QcResult) -> list[str]:
    """A dot per scored frame; a cross at the top for a held frame or one whose score is not finite."""
    parts = []
    for f in result.frames:
        if _finite(f.risk) and f.risk is not None:
            colour = _COLOURS["flag"] if f.flagged else _COLOURS["risk"]
            radius = 5 if f.flagged else 3.5
            parts.append(f'<circle cx="{a.x(f.frame):.1f}" cy="{a.y_risk(f.risk):.1f}" r="{radius}" fill="{colour}">'
                         f'<title>frame {f.frame}: risk {f.risk:.3f}, predicted {_num(f.predicted_psnr_db, ".2f")} '
                         f'dB{" (flagged)" if f.flagged else ""}</title></circle>')
        elif f.status == "held" or f.risk is not None:
            cx, cy = a.x(f.frame), a.top + 10
            what = "held" if f.status == "held" else "not scored"
            parts.append(f'<path d="M{cx - 5:.1f},{cy - 5} L{cx + 5:.1f},{cy + 5} M{cx - 5:.1f},{cy + 5} '
                         f'L{cx + 5:.1f},{cy - 5}" stroke="{_COLOURS["flag"]}" stroke-width="2.5">'
                         f'<title>frame {f.frame}: {what} ({_e(f.reason)})</title></path>')
    return parts


def _num(value: float | None, spec: str) -> str:
    """A number for the page: formatted, ``NaN``/``Inf`` as such, empty when absent."""
    if value is None:
        return ""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return format(value, spec)


# ---------------------------------------------------------------------------------------
# Thumbnails
# ---------------------------------------------------------------------------------------


def _thumb_rows(rgb: np.ndarray) -> tuple[int, int]:
    rows, cols = rgb.shape[:2]
    width = min(THUMB_WIDTH_PX, cols)
    return max(1, round(rows * width / cols)), width


def _png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _thumbnails(frame: FrameQc, folder: Path) -> list[tuple[str, str]]:
    """(caption, data URI) of the beauty, risk heatmap and error heatmap of one flagged frame."""
    import cv2

    from framefill.ops.errormaps import error_to_unit, overlay
    from framefill.ops.metrics import display_proxy

    if not frame.heatmap or not Path(frame.heatmap).is_file():
        return []
    part = read_exr(frame.heatmap).parts[0]
    rgb = np.stack([part.channels[c].astype(np.float32) for c in ("R", "G", "B")], axis=-1)
    rows, cols = _thumb_rows(rgb)

    def small(a: np.ndarray) -> np.ndarray:
        return cv2.resize(np.ascontiguousarray(a, dtype=np.float32), (cols, rows), interpolation=cv2.INTER_AREA)

    display = small(display_proxy(rgb))
    if frame.regions is not None and not frame.regions.whole_frame:
        display = _draw_boxes(display, frame.regions.boxes, part.data_window)
    images = [("filled frame", display)]
    if "ff_risk.Y" in part.channels:
        images.append(("predicted risk", overlay(display, small(part.channels["ff_risk.Y"]))))
    if "ff_err.Y" in part.channels:
        images.append(("true error", overlay(display, error_to_unit(small(part.channels["ff_err.Y"])))))
    out = []
    stem = Path(frame.heatmap).stem
    for caption, image in images:
        path = folder / f"{stem}.{caption.split()[-1]}.png"
        write_image(path, image)
        out.append((caption, _png_data_uri(path)))
    return out


def _draw_boxes(image: np.ndarray, boxes: tuple[tuple[int, int, int, int], ...],
                window: tuple[int, int, int, int]) -> np.ndarray:
    """A thumbnail with the re-render regions (display-window boxes) outlined in cyan, 1 px."""
    out = image.copy()
    rows, cols = out.shape[:2]
    sx, sy = cols / (window[2] - window[0] + 1), rows / (window[3] - window[1] + 1)
    for x0, y0, x1, y1 in boxes:
        c0 = int(np.clip(math.floor((x0 - window[0]) * sx), 0, cols - 1))
        c1 = int(np.clip(math.ceil((x1 + 1 - window[0]) * sx) - 1, 0, cols - 1))
        r0 = int(np.clip(math.floor((y0 - window[1]) * sy), 0, rows - 1))
        r1 = int(np.clip(math.ceil((y1 + 1 - window[1]) * sy) - 1, 0, rows - 1))
        for r in (r0, r1):
            out[r, c0:c1 + 1] = (0.0, 1.0, 1.0)
        for c in (c0, c1):
            out[r0:r1 + 1, c] = (0.0, 1.0, 1.0)
    return out


def _regions_text(f: FrameQc) -> str:
    if f.regions is None:
        return ""
    if f.regions.whole_frame:
        return f"<br>re-render: whole frame ({_e(f.regions.reason)})"
    return f"<br>re-render: {len(f.regions.boxes)} region(s), {f.regions.share:.0%} of the frame"


# ---------------------------------------------------------------------------------------
# Page
# ---------------------------------------------------------------------------------------

_CSS = """
.strip { display: flex; flex-wrap: wrap; gap: 4px; }
.check { padding: 4px 8px; border: 1px solid #8a8; background: #eaf6ea; text-align: center; font-size: 12px; }
.check.failed { border-color: #c66; background: #fbeaea; } .check.cut { border-color: #999; background: #eee; }
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px; color: #212529;
       background: #ffffff; width: 1000px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #6c757d; font-size: 12px; }
.cards { display: flex; gap: 12px; margin: 16px 0; flex-wrap: wrap; }
.card { border: 1px solid #dee2e6; border-radius: 6px; padding: 8px 14px; min-width: 120px; }
.card b { display: block; font-size: 22px; }
code.range { background: #f1f3f5; padding: 2px 6px; border-radius: 4px; font-size: 13px; }
.thumbs { display: flex; flex-direction: column; gap: 14px; }
.thumb-row { display: flex; gap: 8px; align-items: flex-start; }
.thumb-row figure { margin: 0; } .thumb-row img { display: block; border: 1px solid #ced4da; }
.thumb-row figcaption { font-size: 11px; color: #495057; }
.thumb-label { width: 150px; font-size: 12px; }
table { border-collapse: collapse; font-size: 12px; } td, th { border: 1px solid #dee2e6; padding: 3px 8px; }
tr.flagged td { background: #fff5f5; }
"""

_SCRIPT = """
(function () {
  var errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message || e)); });
  window.addEventListener('load', function () {
    var imgs = Array.prototype.slice.call(document.images);
    imgs.forEach(function (im) { if (!im.complete || im.naturalWidth === 0) errors.push('image ' + im.alt); });
    var rect = function (el) { var r = el.getBoundingClientRect();
      return [Math.round(r.left), Math.round(r.top), Math.round(r.width), Math.round(r.height)]; };
    var plot = document.getElementById('plot');
    var layout = { plot: plot ? rect(plot) : null,
                   thumbs: imgs.filter(function (im) { return im.className === 'thumb'; }).map(rect) };
    document.body.setAttribute('data-layout', JSON.stringify(layout));
    document.body.setAttribute('data-errors', JSON.stringify(errors));
    document.body.setAttribute('data-status', errors.length ? 'error' : 'ok');
  });
})();
"""


def render_report(result: QcResult, *, calibration: Calibration | None = None) -> str:
    """The report page of a QC run as one HTML string (thumbnails are written beside the heatmaps)."""
    s = result.savings()
    rerender = result.rerender
    cards = [
        ("frames in shot", s["frames_total"]),
        ("rendered first", s["frames_rendered"]),
        ("filled", s["frames_filled"]),
        ("held", s["frames_held"]),
        ("to re-render", s["frames_rerender"]),
        ("of their pixels in regions", f"{result.rerender_pixels()['share']:.0%}"),
        ("never rendered", s["frames_never_rendered"]),
        (f"render time saved at {s['cost_per_frame_min']:g} min/frame",
         f"{s['render_minutes_saved'] / 60:.1f} h"),
    ]
    body = [
        "<h1>framefill QC report</h1>",
        f'<div class="meta">{_e(result.pattern)} &middot; threshold {result.threshold_db:g} dB &middot; '
        f'confidence {result.confidence:.1%} &middot; calibration {_e(result.calibration_id)} &middot; '
        f'framefill {_e(_version())}</div>',
        '<div class="cards">' + "".join(f'<div class="card"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in cards) + "</div>",
        "<h2>Re-render list</h2>",
        f'<p>OpenJD: <code class="range" id="rerender">{_e(format_frame_range(rerender) or "(none)")}</code> '
        f'&nbsp; Nuke: <code class="range">{_e(format_frame_range(rerender, style="nuke") or "(none)")}</code></p>',
    ]
    if result.truth is not None:
        bad = result.below_threshold()
        recall = result.recall()
        body.append(f"<p>True PSNR below {result.threshold_db:g} dB: "
                    f'<code class="range">{_e(format_frame_range(bad) or "(none)")}</code>; recall of the '
                    f'list: {"n/a" if recall is None else f"{recall:.0%}"}.</p>')
    body += _keyframe_strip(result)
    body += ["<h2>Risk per frame</h2>", _plot_svg(result)]
    # Riskiest first; a frame whose score is not finite before all of them.
    flagged = sorted((f for f in result.frames if f.flagged and f.risk is not None),
                     key=lambda f: -(f.risk or 0.0) if _scored(f) else -math.inf)
    body.append(f"<h2>Flagged frames ({len(flagged)})</h2>")
    if len(flagged) > MAX_THUMB_FRAMES:
        body.append(f"<p>The {MAX_THUMB_FRAMES} riskiest are shown.</p>")
    rows = []
    for f in flagged[:MAX_THUMB_FRAMES]:
        folder = Path(f.heatmap).parent / "png" / "thumbs" if f.heatmap else None
        thumbs = _thumbnails(f, folder) if folder is not None else []
        label = (f'<div class="thumb-label"><b>frame {f.frame}</b><br>risk {_num(f.risk, ".2f")}<br>'
                 f'predicted {_num(f.predicted_psnr_db, ".1f")} dB' +
                 (f"<br>true {_num(f.psnr_db, '.1f')} dB" if f.psnr_db is not None else "") +
                 (f"<br>{_e(f.reason)}" if f.reason else "") + _regions_text(f) + "</div>")
        figures = "".join(f'<figure><img class="thumb" alt="frame {f.frame} {_e(c)}" src="{uri}">'
                          f"<figcaption>{_e(c)}</figcaption></figure>" for c, uri in thumbs)
        rows.append(f'<div class="thumb-row" id="frame-{f.frame}">{label}{figures}</div>')
    body.append('<div class="thumbs">' + "".join(rows) + "</div>")
    body.append("<h2>All frames</h2>")
    table = ["<table><tr><th>frame</th><th>status</th><th>risk</th><th>predicted dB</th><th>interval dB</th>"
             "<th>basis</th><th>true dB</th><th>SSIM</th><th>re-render</th><th>reason</th></tr>"]
    for f in result.frames:
        interval = "" if f.interval_db is None else f"{_num(f.interval_db[0], '.1f')}–{_num(f.interval_db[1], '.1f')}"
        cells = [f.frame, f.status, _num(f.risk, ".3f"), _num(f.predicted_psnr_db, ".2f"), interval, f.basis or "",
                 _num(f.psnr_db, ".2f"), _num(f.ssim, ".4f"), "yes" if f.flagged else "", f.reason]
        cls = ' class="flagged"' if f.flagged else ""
        table.append(f"<tr{cls}>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    table.append("</table>")
    body.append("".join(table))
    if calibration is not None:
        trained = calibration.trained_on
        body.append(f'<p class="meta">Calibration trained on: {_e(", ".join(trained.get("scenes", [])) or "?")}; '
                    "rule: re-render a filled frame when a keyframe check beside it measured below the threshold, "
                    f"or when its predicted PSNR less {calibration.margin_db('keyframe-check', result.confidence):.1f} "
                    f"dB (with checks; {calibration.margin_db('features', result.confidence):.1f} dB from the "
                    "features alone) is below the threshold.</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>framefill QC: {_e(Path(result.pattern).name)}</title><style>{_CSS}</style></head>"
            f"<body data-status=\"loading\">{''.join(body)}<script>{_SCRIPT}</script></body></html>\n")


def _keyframe_strip(result: QcResult) -> list[str]:
    """The rendered frames of the shot with their keyframe checks' measured PSNR, in a strip above the fills."""
    if not result.keyframe_checks:
        return []
    cells = []
    for c in result.keyframe_checks:
        if c.psnr_db is None:
            value, cls = "cut", "check cut"
        else:
            value = _num(c.psnr_db, ".1f") + " dB"
            failed = check_failed(c.psnr_db, result.threshold_db, result.check_allowance_db)
            cls = "check failed" if failed else "check"
        cells.append(f'<div class="{cls}" id="check-{c.frame}"><b>{c.frame}</b><br>{_e(value)}'
                     f'<br><small>from {c.before}&ndash;{c.after}</small></div>')
    return ["<h2>Keyframe checks</h2>",
            "<p>Each rendered frame filled from its rendered neighbours and measured against its real render "
            f"(true PSNR; red: below {result.threshold_db - result.check_allowance_db:g} dB, a failed check: "
            "the fills beside it are re-rendered).</p>",
            '<div class="strip">' + "".join(cells) + "</div>"]


def _version() -> str:
    from framefill._version import __version__

    return __version__


def layout_of(dumped_dom: str) -> dict[str, Any] | None:
    """The layout JSON the page's script wrote into ``<body data-layout>`` (for headless tests)."""
    import re

    m = re.search(r'data-layout="([^"]*)"', dumped_dom)
    return json.loads(html.unescape(m.group(1))) if m else None
