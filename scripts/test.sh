#!/usr/bin/env bash
# The whole Vitalog test suite on a fresh machine (CI runs exactly this, as root, on a fresh clone):
# installs missing Debian prerequisites, runs `npm ci` (which builds), lints, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the real-component tests need: socat (pty pairs), dbus-daemon (private D-Bus for BLE),
# systemd-analyze (checks the unit offline), setfacl (fills a credentials directory as systemd does),
# setpriv (runs the unit's command as its unprivileged user).
need=()
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v dbus-daemon >/dev/null 2>&1 || need+=(dbus)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v setfacl >/dev/null 2>&1 || need+=(acl)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
# openssl (CLI) makes the CA and certificates of the transport tests
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/note ] || need+=(golang-golang-x-mod-dev)
if ((${#need[@]})); then
  echo "installing Debian packages: ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

npm ci --no-audit --no-fund
# the CycloneDX SBOM of the runtime dependencies, a build artefact for the security review (SECURITY.md)
node scripts/sbom.mjs dist/sbom.cdx.json
npx biome check .
node scripts/check-pack.mjs # what `npm pack` publishes: production files only, imports resolvable, within budget
node scripts/config-reference.mjs --check # docs/configuration.md is what the config schema gives now
# every compiled test file; node:test prints the closing "# pass N / # fail N" counts
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
node --test --test-concurrency=2 "${files[@]}"
