#!/usr/bin/env bash
# Installs every Debian package the project needs. Idempotent: packages already
# present are not fetched again, and `apt-get update` runs once per machine
# (or when a package is missing from the cached lists).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git curl ca-certificates python3
  clang libclang-rt-14-dev clang-format clang-tidy
  # vigil's dependencies
  prometheus-cpp-dev libfmt-dev libboost-dev zlib1g-dev librdkafka-dev
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  # the API reference (cmake --build <dir> --target docs)
  doxygen
  # the Prometheus server and promtool, for monitoring tests
  prometheus
  # PyYAML, to check monitoring/docker-compose.yml without Docker
  python3-yaml
  # JSON Schema (Draft 2020-12), to check docs/api/openapi.yaml and responses
  python3-jsonschema
  # chat services
  nlohmann-json3-dev libsqlite3-dev libssl-dev
  # the PostgreSQL store (libpq) and the server its tests start
  libpq-dev postgresql
  # several APIs behind a load balancer (scripts/stack.sh scale-api)
  haproxy
  # load-test reports with charts (bench/load/analyze)
  python3-matplotlib
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: run as root or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
