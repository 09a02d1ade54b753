#!/usr/bin/env bash
# Runs the demo on the embedded defaults: the reference server on loopback with a seeded
# company, one enrolled phone, the product's policy steps, each checked. Exits non-zero if
# any step fails. Extra arguments go to `contacts-agent demo` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo (Rust 1.85+) is required" >&2; exit 1; }
exec cargo run --quiet --bin contacts-agent -- demo "$@"
