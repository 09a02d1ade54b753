#!/usr/bin/env bash
# Every check the project has, as CI runs it: formatting, clippy with warnings as errors,
# every test in the workspace (unit, property, integration against the real server), the
# server's integration tests again on a PostgreSQL it starts itself, and the JVM tests of
# the generated Kotlin API (Maven fetches the Kotlin compiler, JUnit, JNA).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo (Rust 1.85+) is required" >&2; exit 1; }

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo test (workspace)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --all-features 2>&1 | tee "$log"

step "Server tests again on PostgreSQL (a throwaway cluster, scripts/postgres.sh), then two servers on one database"
# Each server test gets its own fresh database on the cluster (server/tests/common); the
# multi-server tests (ignored in the run above) one at a time: they stop and restart it.
scripts/postgres.sh sh -c '
  cargo test -p contacts-agent-server --all-features --test "*" &&
  cargo test -p contacts-agent-server --all-features --test postgres_processes -- --ignored --test-threads 1 &&
  cargo test -p contacts-agent --all-features --test postgres_agent -- --ignored
' 2>&1 | tee -a "$log"

step "vCard interop: a strict RFC 2426 validator (PyPI vcard) and vobject read a generated archive"
# tests/backup_end_to_end.rs writes target/interop/contacts.vcf (201 cards, every field).
cargo test --quiet --test backup_end_to_end sample_archive_for_interop_checks -- --exact
if [ ! -x target/vcard-venv/bin/python ]; then
  command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3; }
  python3 -m venv target/vcard-venv 2>/dev/null || {
    apt-get update -qq && apt-get install -y -qq python3-venv && python3 -m venv target/vcard-venv
  }
fi
target/vcard-venv/bin/pip install --quiet --disable-pip-version-check vcard==1.0.0 vobject==0.9.9
target/vcard-venv/bin/python scripts/check_vcards.py target/interop/contacts.vcf "$(cat target/interop/count)" \
  | tee -a "$log"

step "uniffi: build the cdylib and the server, generate the Kotlin bindings"
cargo build --workspace
rm -rf target/uniffi-kotlin
cargo run --quiet --features bindgen --bin uniffi-bindgen -- \
  generate uniffi/contacts_agent.udl --language kotlin --out-dir target/uniffi-kotlin --no-format
# The README shows the embedding example verbatim; the JVM tests compile and run that file.
example=tests/jvm/src/test/kotlin/EmbeddingExample.kt
if ! python3 - "$example" <<'PY'
import sys
body = open(sys.argv[1]).read().split("\n", 2)[2]  # without the two header lines
sys.exit(0 if body.strip() in open("README.md").read() else 1)
PY
then
  echo "README.md does not contain $example verbatim" >&2
  exit 1
fi
# docs/android.md: every kotlin block is an excerpt of the example app, which tests/android
# compiles against the Android API.
if ! python3 - <<'PY'
import pathlib, re, sys
doc = open("docs/android.md").read()
sources = "\n".join(p.read_text() for p in pathlib.Path("android/example/src").rglob("*.kt"))
blocks = re.findall(r"```kotlin\n(.*?)```", doc, re.S)
missing = [b.splitlines()[0] for b in blocks if b not in sources]
for m in missing:
    print(f"docs/android.md: a kotlin block is not in android/example verbatim: {m.strip()}", file=sys.stderr)
sys.exit(1 if missing or not blocks else 0)
PY
then
  exit 1
fi

step "JVM tests: Kotlin API through JNA, on classes ProGuard shrank with android/consumer-rules.pro (Maven, kotlin-maven-plugin, proguard-base, JUnit)"
if ! command -v mvn >/dev/null || ! command -v javac >/dev/null; then
  apt-get update -qq && apt-get install -y -qq maven default-jdk-headless
fi
mvn -B -f tests/jvm/pom.xml test 2>&1 | tee -a "$log" | grep -Ev '^\[INFO\] (Download|Copying|Building|---|$)'

step "Android shell: compile android/ against android-all (API 34); Robolectric runs the shell's classes against the provider stand-in, end to end with the Rust library"
mvn -B -f tests/android/pom.xml test 2>&1 | tee -a "$log" | grep -Ev '^\[INFO\] (Download|Copying|Building|---|$)'

step "Admin console in headless chromium (playwright-core, Debian's chromium)"
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
(cd tests/browser && npm ci --no-audit --no-fund --silent)
# Screenshots: target/screenshots/*.png
(cd tests/browser && npm test) 2>&1 | tee -a "$log"

# One closing line for the whole run (cargo ends on a doc-test line that often says 0).
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
# Surefire's per-project summaries: "Tests run: N, Failures: F, Errors: E, Skipped: S" alone.
jvm_failed=0
while read -r jr jf je js; do
  passed=$((passed + jr - jf - je - js))
  jvm_failed=$((jvm_failed + jf + je))
done < <(grep -E '^\[(INFO|ERROR|WARNING)\] Tests run: [0-9]+, Failures: [0-9]+, Errors: [0-9]+, Skipped: [0-9]+$' "$log" \
  | sed -E 's/.*Tests run: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+), Skipped: ([0-9]+)$/\1 \2 \3 \4/')
failed=$(grep -E '^test result:' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
failed=$((failed + jvm_failed))
# node:test's TAP summary ("# pass N", "# fail N").
node_pass=$(grep -E '^# pass [0-9]+$' "$log" | awk '{s+=$3} END {print s+0}')
node_fail=$(grep -E '^# fail [0-9]+$' "$log" | awk '{s+=$3} END {print s+0}')
passed=$((passed + node_pass))
failed=$((failed + node_fail))
printf '\ntotal: %s passed, %s failed\n' "$passed" "$failed"
