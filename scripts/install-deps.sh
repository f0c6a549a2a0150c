#!/usr/bin/env bash
# install-deps.sh -- install the Debian packages Parley needs, only those missing.
# Idempotent: a second run installs nothing. Needs root (or sudo) only when
# something is missing.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libuv1-dev libhttp-parser-dev libjansson-dev
  libsqlite3-dev libsodium-dev libssl-dev uthash-dev
  # built-in TLS (issue 12): libparley verifies servers against Debian's CAs
  ca-certificates
  libcmocka-dev libmagic-dev libvips-dev
  liboath-dev      # TOTP second factor (RFC 6238), src/auth/totp.c
  libqrencode-dev  # QR code of the TOTP enrolment URI, rendered as SVG
  libfido2-dev # passkeys: WebAuthn signature verification (src/auth/webauthn.c)
  libcbor-dev  # passkeys: attestation objects and COSE keys (src/auth/webauthn.c)
  libcurl4-openssl-dev # media on S3: libcurl with CURLOPT_AWS_SIGV4 (media_store_s3.c)
  python3
  libpq-dev # the PostgreSQL store backend (store postgres, src/store/store_pg*.c)
  libhiredis-dev # the cluster bus (src/cluster): hiredis async on libuv
  libncurses-dev # parley-tui, the full-screen terminal client (client/tui, ncursesw)
)
# The browser tests need Chromium and Node.js (npm installs playwright-core).
# `make test` runs them, so `make test` asks for these too (--test).
# The CI gates need clang with its sanitizer/libFuzzer runtimes (`make fuzz`)
# and clang-format (`make check-format`).
# The multi-node suite (tests/integration/test_cluster.c) and `make
# run-cluster` start Redis and HAProxy themselves (--test, --cluster).
if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--cluster" ]; then
  PKGS+=(
    redis-server # the cluster bus in the cluster tests and run-cluster
    haproxy      # the front door in the cluster tests and run-cluster
    postgresql   # the shared store of run-cluster; the `pg` test label
  )
fi
if [ "${1:-}" = "--test" ]; then
  PKGS+=(chromium fonts-noto-color-emoji clang libclang-rt-dev clang-format)
  # built-in TLS (issue 12): the tests and loadgen --tls make their
  # self-signed certificates with the openssl command
  PKGS+=(openssl)
  PKGS+=(postgresql) # initdb/pg_ctl for the throwaway cluster of ctest -L pg
  PKGS+=(python3-aiosmtpd) # the SMTP server of integration/test_jobs_email (issue 13)
  PKGS+=(tmux) # drives parley-tui in tests/tui/run.sh (ctest -L tui, issue 20)
  PKGS+=(coturn) # TURN relay of e2e/calls.test.mjs (issue 19; started by the test on loopback)
  PKGS+=(prometheus) # promtool checks GET /metrics in integration/test_metrics (issue 17)
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    PKGS+=(nodejs npm)
  fi
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# calls (issue 19): the tests start their own turnserver; a system one that
# the package may have started would hold port 3478 and run for nothing.
for p in "${missing[@]}"; do
  if [ "$p" = "coturn" ]; then
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      $SUDO systemctl disable --now coturn >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/coturn ]; then
      $SUDO /etc/init.d/coturn stop >/dev/null 2>&1 || true
    fi
  fi
done
# prometheus (--test) is there for promtool only: where systemd runs,
# Debian's package starts a Prometheus server (port 9090); stop and disable
# it, the tests and the machine need none.
if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1 &&
  systemctl is-enabled --quiet prometheus 2>/dev/null; then
  $SUDO systemctl disable --now prometheus prometheus-node-exporter 2>/dev/null || true
fi
