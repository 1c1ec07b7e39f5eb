"""The refactoring guard: the same commands write the same bytes as the reference tree did.

``tests/golden/outputs.json`` holds the sha256 of every file written by
``framefill demo``, fills of the sample shot with rife-4 and with flow, a qc run
with ``--report``, an upscale of three (cropped) sample frames with every
upscaler card, and a ``farm bundle`` of each template, recorded on a reference
tree (``tests/golden_outputs.py`` says how) and re-recorded only by a commit that
means to change bytes and says which. Text files are compared without their
timestamp and version lines.

Float kernels differ between CPU kinds and library builds, so the bytes are
promised for the environment recorded beside them; elsewhere the test says so
and skips instead of failing on a difference framefill did not make.
"""

import json

import pytest
from golden_outputs import REPO, cases, environment, run_cases

GOLDEN = REPO / "tests" / "golden" / "outputs.json"

pytestmark = [pytest.mark.weights, pytest.mark.slow]


def test_every_command_writes_the_recorded_bytes(tmp_path):
    golden = json.loads(GOLDEN.read_text())
    here = environment()
    if here != golden["environment"]:
        pytest.skip(f"bytes were recorded on {golden['environment']}, this machine is {here}; re-record with "
                    "tests/golden_outputs.py on a reference tree to compare here")
    got = run_cases(tmp_path, cases(small_upscale=True))
    want = golden["small"]
    assert sorted(got) == sorted(want)
    differ = [f"{case}/{name}" for case in want for name in sorted(set(want[case]) | set(got[case]))
              if want[case].get(name) != got[case].get(name)]
    assert not differ, f"{len(differ)} file(s) differ from the recorded bytes: {differ[:20]}"
