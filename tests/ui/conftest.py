"""Review app tests: Qt offscreen (the screenshot test starts its own Xvfb), one QApplication per session.

PySide6 is in the test extra, so a missing PySide6 fails these tests rather than skipping them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

os.environ["QT_QPA_PLATFORM"] = "offscreen"


@pytest.fixture(scope="session")
def qapp():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["framefill-tests"])
    yield app


@pytest.fixture
def wait_until(qapp) -> Callable[..., None]:
    """Process Qt events until ``done()`` is true; fail after ``timeout_s`` (generous: no timing is asserted)."""
    from PySide6.QtTest import QTest

    def wait(done: Callable[[], bool], timeout_s: float = 30.0, what: str = "the condition") -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
            QTest.qWait(10)

    return wait


@pytest.fixture
def flat_shot(tmp_path):
    from review_shots import write_flat_shot

    return write_flat_shot(tmp_path)
