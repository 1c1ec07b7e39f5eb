"""The scene-cut threshold on the rendered `cut` scene: the cut is caught, shot-internal pairs are not.

Renders frames 1013-1021 of bench/scenes' `cut` scene (the hard cut is between 1016 and
1017) once into the scene cache (~1-2 minutes on 2 cores), then checks every pair of frames
1 to 3 apart, i.e. the keyframe pairs of `--every 2` and `--every 3`. The threshold itself was
set from bench/qc.py --cuts over all test scenes (see framefill/ops/cuts.py).
"""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
from ffpaths import REPO
from framefill import api
from framefill.color import to_network
from framefill.frames import read_exr
from framefill.ops.cuts import CUT_THRESHOLD, cut_score
from framefill.pipeline.qc import beauty_rgb
from framefill.requests import FillRequest, QcRequest

FIRST, LAST = 1013, 1021
CUT_AFTER = 1016  # last frame of the first setup; catalog.cut_frame(1001, 1032) == 1017


@pytest.fixture(scope="module")
def cut_scene():
    sys.path.insert(0, str(REPO / "bench" / "scenes"))
    try:
        ensure = importlib.import_module("ensure")
        catalog = importlib.import_module("catalog")
        assert catalog.cut_frame(1001, 1032) == CUT_AFTER + 1
        folder = ensure.ensure_scene("cut", frames=f"{FIRST}-{LAST}", timeout_s=1800)
    finally:
        sys.path.remove(str(REPO / "bench" / "scenes"))
    return folder


@pytest.mark.blender
@pytest.mark.slow
def test_threshold_separates_the_cut_from_shot_internal_pairs(cut_scene):
    proxies = {f: to_network(beauty_rgb(read_exr(cut_scene / f"cut.{f:04d}.exr"))[0]) for f in range(FIRST, LAST + 1)}
    inside, across = [], []
    for gap in (1, 2, 3):
        for a in range(FIRST, LAST + 1 - gap):
            score = cut_score(proxies[a], proxies[a + gap])
            (across if a <= CUT_AFTER < a + gap else inside).append(score)
    assert len(across) == 6 and len(inside) == 15
    assert max(inside) < CUT_THRESHOLD < min(across), (max(inside), min(across))


@pytest.mark.blender
@pytest.mark.slow
def test_fill_holds_the_frame_across_the_cut_and_qc_lists_it(cut_scene, tmp_path):
    import shutil

    keys = tmp_path / "keys"
    keys.mkdir()
    for f in range(FIRST, LAST + 1, 2):  # 1013, 1015, 1017, 1019, 1021
        shutil.copyfile(cut_scene / f"cut.{f:04d}.exr", keys / f"cut.{f:04d}.exr")
    out = str(tmp_path / "out" / "cut.####.exr")
    result = api.fill_shot(FillRequest(str(keys / "cut.####.exr"), out, model="flow", device="cpu"))
    statuses = {o.frame: o.status for o in result.frames}
    assert statuses == {1013: "copied", 1014: "filled", 1015: "copied", 1016: "held", 1017: "copied",
                        1018: "filled", 1019: "copied", 1020: "filled", 1021: "copied"}
    qc = api.qc_shot(QcRequest(out))
    assert 1016 in qc.rerender
    held = next(f for f in qc.frames if f.frame == 1016)
    assert held.status == "held" and held.risk is None
    first = read_exr(cut_scene / "cut.1015.exr").parts[0].channels["R"]
    assert np.array_equal(read_exr(tmp_path / "out" / "cut.1016.exr").parts[0].channels["R"], first)
