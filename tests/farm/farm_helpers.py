"""Shared helpers for the farm tests: subprocess environments, template paths, fakes.

Imported by the test modules (pytest puts this folder on sys.path).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "core"
TEMPLATES = REPO / "openjd_templates"
GOLDEN = Path(__file__).resolve().parent / "golden"
KINDS = ("fill", "upscale", "qc", "sparse_pipeline")
GPU_STEPS = {"fill": {"Fill"}, "upscale": {"Upscale"}, "qc": set(), "sparse_pipeline": {"Fill"}}


def base_env(tmp_path: Path) -> dict[str, str]:
    """An environment for subprocesses: this framefill first, and no AWS/Deadline config from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DEADLINE_"))}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        USERPROFILE=str(home),
        AWS_CONFIG_FILE=str(home / "aws_config_absent"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws_credentials_absent"),
        AWS_EC2_METADATA_DISABLED="true",
        DEADLINE_CONFIG_FILE_PATH=str(home / "deadline_config_absent"),
        DEADLINE_CLOUD_TELEMETRY_OPT_OUT="true",
        PYTHONPATH=os.pathsep.join(p for p in [str(CORE), os.environ.get("PYTHONPATH", "")] if p),
        PYTHONUNBUFFERED="1",
    )
    # Weights stay where the real cache is, even under the temporary HOME.
    env.setdefault("FRAMEFILL_MODELS", str(Path.home() / ".cache" / "framefill" / "models"))
    return env


def framefill_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "framefill", *args]


def openjd_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "openjd", *args]


FAKE_FRAMEFILL = """#!{python}
# A stand-in for `framefill` on PATH: records its argv as one JSON line and
# reports one frame, so templates can be run by openjd without the pipelines.
import json, os, sys
with open(os.environ["FAKE_FRAMEFILL_LOG"], "a", encoding="utf-8") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\\n")
print("openjd_progress: 100")
"""


def write_fake_framefill(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "framefill"
    script.write_text(FAKE_FRAMEFILL.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)
    return folder


def read_fake_log(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
