#!/usr/bin/env bash
# The whole test suite, as the README documents it and CI runs it:
#   installs what the suite needs (BIND9 tools when missing), checks format and
#   lints, then runs every test with cargo-nextest (cargo test as a fallback).
# PostgreSQL suites run when 127.0.0.1:5432 answers; under CI=true they must.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v named >/dev/null 2>&1 || need_pkgs+=(bind9)
command -v named-checkzone >/dev/null 2>&1 || need_pkgs+=(bind9-utils)
command -v dig >/dev/null 2>&1 || need_pkgs+=(bind9-dnsutils)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "==> missing ${need_pkgs[*]}: BIND suites will skip (install Debian's bind9 bind9-utils bind9-dnsutils)"
  fi
fi
# Debian starts a system named on install; the suite runs its own.
if command -v systemctl >/dev/null 2>&1; then systemctl stop named >/dev/null 2>&1 || true; fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
  echo "==> cargo nextest run"
  cargo nextest run --locked --workspace --no-fail-fast "$@"
else
  echo "==> cargo test (cargo-nextest not installed)"
  cargo test --locked --workspace --no-fail-fast "$@"
fi
