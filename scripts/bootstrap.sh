#!/usr/bin/env bash
# Installs whatever is missing for videoident on a Debian machine, idempotently:
#   system packages (tesseract-ocr, fonts-ocr-b; with --test also chromium), the virtualenv in .venv/,
#   and the Python packages. A second run with nothing changed takes about a second.
# Usage: scripts/bootstrap.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi

missing=()
command -v tesseract >/dev/null 2>&1 || missing+=(tesseract-ocr)
[ -f /usr/share/fonts/opentype/ocr-b/OCRB.otf ] || missing+=(fonts-ocr-b)
if [ "$want_test" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing system packages: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PYTHON" -m venv .venv
fi
pip=(.venv/bin/python -m pip -q --disable-pip-version-check)

# Reinstall only when the dependency list changed.
stamp=.venv/.videoident-deps
want=$(sha256sum pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)-$want_test
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python packages into .venv (a few minutes the first time)"
  "${pip[@]}" install --upgrade pip "setuptools<82" wheel
  # dlib-bin is a wheel; PyPI's dlib is a source build that does not finish on 2 cores. face_recognition
  # declares `dlib`, so it goes in with --no-deps (its other dependencies are in pyproject.toml).
  "${pip[@]}" install "dlib-bin>=19.24"
  "${pip[@]}" install --no-deps "face_recognition==1.3.0"
  extra=""
  [ "$want_test" = 1 ] && extra="[test]"
  "${pip[@]}" install -e ".${extra}"
  echo "$want" > "$stamp"
fi
