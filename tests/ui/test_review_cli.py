"""``framefill review`` at the command line: one-line errors, exit 2, and the CLI without PySide6."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _cli(*args: str, block_qt: bool = False, tmp_path=None) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ)
    if block_qt:  # a PySide6 that cannot be imported, ahead of the real one
        shim = tmp_path / "no-qt" / "PySide6"
        shim.mkdir(parents=True, exist_ok=True)
        (shim / "__init__.py").write_text("raise ImportError('No module named PySide6 (blocked by the test)')\n")
        env["PYTHONPATH"] = os.pathsep.join([str(shim.parent), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "framefill", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_without_pyside6_review_says_which_extra_and_exits_2(flat_shot, tmp_path):
    proc = _cli("review", flat_shot.pattern, block_qt=True, tmp_path=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "framefill: error: framefill review needs the ui extra: pip install 'framefill[ui]'"


def test_help_works_without_pyside6(tmp_path):
    proc = _cli("--help", block_qt=True, tmp_path=tmp_path)
    assert proc.returncode == 0 and "review" in proc.stdout
    review = _cli("review", "--help", block_qt=True, tmp_path=tmp_path)
    assert review.returncode == 0 and "--truth" in review.stdout


@pytest.mark.parametrize(("args", "error"), [
    pytest.param(("review", "nowhere/shot.####.exr"), "no frames match nowhere/shot.####.exr", id="no-frames"),
    pytest.param(("review", "{pattern}", "--view", "Filmic"), "has no view 'Filmic'", id="bad-view"),
    pytest.param(("review", "{pattern}", "--report", "{tmp}/none"), "no qc.json in", id="no-report"),
    pytest.param(("review", "{pattern}", "--fps", "0"), "--fps must be a number above 0", id="bad-fps"),
])
def test_bad_input_is_one_line_and_exit_2(flat_shot, tmp_path, args, error):
    proc = _cli(*(a.format(pattern=flat_shot.pattern, tmp=tmp_path) for a in args))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("framefill: error: ") and error in lines[0]


def test_review_opens_the_window_and_returns_when_it_closes(flat_shot, qapp):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from framefill import api

    seen = []

    def close() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if w.windowTitle().startswith("framefill review")]
        seen.extend(w.windowTitle() for w in windows if w.isVisible())
        for window in windows:
            window.close()
        qapp.quit()

    QTimer.singleShot(300, close)
    assert api.review_shot(flat_shot.pattern, report_dir=flat_shot.report, view="Un-tone-mapped") == 0
    assert seen == [f"framefill review - {flat_shot.pattern}"]
