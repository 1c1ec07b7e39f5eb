"""Repository paths the tests share (imported by name: every conftest.py is a module called `conftest`)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE_SHOT = REPO / "core" / "framefill" / "data" / "sample_shot"
SAMPLE_PATTERN = str(SAMPLE_SHOT / "shot.####.exr")
