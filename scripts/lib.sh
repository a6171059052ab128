# Shared by scripts/start and scripts/test: a virtual environment that matches a
# requirements file, reinstalled only when that file changes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

find_python() {
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$candidate"; return 0
    fi
  done
  echo "Python 3.11 is required (Django 5.2 LTS, torch 2.14.1 wheels)." >&2
  return 1
}

ensure_venv() {
  local requirements="$1"
  local stamp="$VENV/.installed-$(basename "$requirements")"
  local wanted
  wanted="$(cat "$ROOT/requirements.txt" "$ROOT/$requirements" | sha256sum | cut -d' ' -f1)"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$(find_python)" -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    echo "==> installing $requirements (torch comes from local wheels when present; first time takes a few minutes)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r "$ROOT/$requirements"
    echo "$wanted" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
  # Idle OpenMP threads spin on a small shared machine and slow torch 10-30x.
  export OMP_WAIT_POLICY=PASSIVE
}

ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then return 0; fi
  echo "==> installing Debian's chromium for the browser tests"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}
