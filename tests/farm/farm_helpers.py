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
KINDS = ("fill", "upscale", "qc", "sparse_pipeline", "upscale_video")
GPU_STEPS = {"fill": {"Fill"}, "upscale": {"Upscale"}, "qc": set(), "sparse_pipeline": {"Fill"},
             "upscale_video": {"Segments", "Join"}}


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


def write_blob_shot(folder: Path) -> Path:
    """Frames 1, 3 and 5 of a soft blob moving right (96x64 RGB EXR, ZIP); 2 and 4 are missing.
    Returns the pattern ``folder/shot.####.exr``."""
    import numpy as np
    import OpenEXR

    folder.mkdir(parents=True)
    y, x = np.mgrid[0:64, 0:96].astype(np.float32)
    for f in (1, 3, 5):
        blob = np.exp(-((x - 30 - 3 * f) ** 2 + (y - 32) ** 2) / 80.0)
        rgb = np.stack([0.2 + blob, 0.3 + 0.5 * y / 64, 0.1 + 0.3 * blob], -1).astype(np.float32)
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, {"RGB": rgb}).write(str(folder / f"shot.{f:04d}.exr"))
    return folder / "shot.####.exr"


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


# ---------------------------------------------------------------------------------------
# The framefill queue environment (openjd_templates/queue_env_framefill_venv.yaml)
# ---------------------------------------------------------------------------------------

QUEUE_ENV = TEMPLATES / "queue_env_framefill_venv.yaml"
# Each python started in a reuse venv appends its sys.prefix and argv here (see reuse_venv).
VENV_LOG_ENV = "FRAMEFILL_TEST_VENV_LOG"


def venv_dir_name(version: str) -> str:
    """The folder the queue environment keeps framefill==``version`` in, for this interpreter and platform."""
    import platform

    plat = f"{sys.platform}-{platform.machine().lower() or 'unknown'}"
    return f"framefill-{version}-{plat}-py{sys.version_info[0]}.{sys.version_info[1]}"


def reuse_venv(root: Path) -> Path:
    """A venv for this framefill version where the queue environment looks for one, running this checkout.

    ``python -m venv --without-pip`` makes a real venv (its own bin/python and
    site-packages); a ``.pth`` there puts this checkout's ``core/`` first and adds
    this interpreter's site-packages (torch, numpy, ...) with ``site.addsitedir``,
    and a ``framefill-<version>.dist-info`` names the version the queue
    environment checks. Its ``bin/framefill`` is left for the queue environment
    to write. A second ``.pth`` line logs every python started in it to the file
    named by ``FRAMEFILL_TEST_VENV_LOG``, so a test can tell that the tasks ran here.
    """
    import subprocess
    import sysconfig

    from framefill._version import __version__

    venv = root / venv_dir_name(__version__)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=600)
    site_dir = Path(subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, timeout=600).stdout.strip())
    outer_site = sysconfig.get_paths()["purelib"]
    log_line = (f"import os, sys; p = os.environ.get({VENV_LOG_ENV!r}); "
                "p and open(p, 'a', encoding='utf-8').write(repr([sys.prefix, sys.orig_argv]) + '\\n')")
    (site_dir / "framefill_checkout.pth").write_text(
        f"{CORE}\nimport site; site.addsitedir({outer_site!r})\n{log_line}\n", encoding="utf-8")
    dist_info = site_dir / f"framefill-{__version__}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: framefill\nVersion: {__version__}\n",
                                        encoding="utf-8")
    return venv


def queue_env_task_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` with a bare PATH (no framefill on it) and no pip configuration from outside."""
    clean = {k: v for k, v in env.items() if not k.startswith("PIP_")}
    clean.update(PATH=os.pathsep.join(["/usr/bin", "/bin"]), PIP_CONFIG_FILE=os.devnull,
                 PIP_DISABLE_PIP_VERSION_CHECK="1")
    return clean
