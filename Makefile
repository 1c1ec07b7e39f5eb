# The two set-up commands of the README. Both make a local virtual environment
# (.venv) so that nothing is installed into the system Python.
#   make demo   install framefill and run the main job on the bundled sample shot
#   make test   install the test extras, fetch the pinned weights, type-check core/, run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch first, pinned: a bare `torch` requirement lets pip pull the CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: demo test venv chromium xvfb

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

venv: $(BIN)/python

demo: venv
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/framefill demo

# The QC report test opens report.html in headless Chromium (Debian's package).
# As root on Debian/Ubuntu it is installed here; elsewhere install it yourself.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	    echo "make test: apt-get could not install chromium; the QC report test will say so"; \
	  else echo "make test: install Chromium (Debian: apt-get install chromium) for the QC report test"; fi; }

# The review app's screenshot test runs Qt under Xvfb (Debian's package) with the
# xcb libraries Qt's X11 platform plugin loads. As root on Debian/Ubuntu they are
# installed here; elsewhere install them yourself (the test skips only when not root).
XVFB_PACKAGES := xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 \
	libxcb-shape0 libxcb-randr0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libfontconfig1
xvfb:
	@command -v Xvfb >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q libxcb-cursor.so.0 && \
	  ldconfig -p 2>/dev/null | grep -q libxcb-icccm.so.4 || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(XVFB_PACKAGES) >/dev/null; } || \
	    echo "make test: apt-get could not install xvfb; the review screenshot test will say so"; \
	  else echo "make test: install xvfb and Qt's xcb libraries ($(XVFB_PACKAGES)) for the review screenshot test"; fi; }

# pytest exits 5 when it collects no test (e.g. a -k filter that matches nothing):
# report it and do not fail the run for that alone.
test: venv chromium xvfb
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/framefill models fetch --all --quiet
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc
