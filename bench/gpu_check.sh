#!/usr/bin/env bash
# The prepared GPU check (see bench/gpu_check.py): fills/s, upscale fps, peak GPU memory and
# backend parity in one run that fits in about 8 minutes on one GPU; tiny sizes on a CPU.
#   bash bench/gpu_check.sh [--tiny] [--budget-s 420] [--repeats 5] [--json-file PATH]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$here/../.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
exec "$python" "$here/gpu_check.py" "$@"
