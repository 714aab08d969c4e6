#!/usr/bin/env bash
# Install Label Studio (about 1 GB) in its own virtualenv, .venv-label-studio,
# for the end-to-end test of the bridge (tests/label_studio/test_end_to_end.py),
# with Selenium to drive Debian's Chromium for the screenshot. Idempotent.
# On failure the reason goes to .venv-label-studio.failed, which the test
# prints when it skips; the exit status is 0 either way, so CI goes on.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv-label-studio
FAILED=$VENV.failed
rm -f "$FAILED"
fail() { echo "$1" > "$FAILED"; echo "install_label_studio: $1" >&2; exit 0; }
if [ ! -x "$VENV/bin/label-studio" ]; then
    "$PYTHON" -m venv "$VENV" || fail "python3 -m venv $VENV failed"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        label-studio==1.23.2 selenium > "$VENV.log" 2>&1 \
        || fail "pip install label-studio==1.23.2 selenium failed: $(tail -n 3 "$VENV.log" | tr '\n' ' ')"
fi
# Chromium and its driver for the screenshot; without them only that step skips.
if ! command -v chromium > /dev/null || ! command -v chromedriver > /dev/null; then
    if command -v apt-get > /dev/null && [ "$(id -u)" = 0 ]; then
        apt-get install -y -q chromium chromium-driver > "$VENV.apt.log" 2>&1 \
            || echo "install_label_studio: apt-get install chromium failed (screenshot will skip)" >&2
    fi
fi
echo "install_label_studio: $("$VENV/bin/python" -c 'import label_studio; print("label-studio", label_studio.__version__)')"
