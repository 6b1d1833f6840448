#!/usr/bin/env bash
# make demo: a local network of attested nodes (simulated TDX), showing who is
# admitted, who is refused and why, data flowing, and a ticket expiring.
# Arguments are passed to `mosaik demo` (e.g. --json, --duration S).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
if [ -d ../shared/testdata/tdx/phala-v4 ]; then
  echo "== first, a real Intel TDX quote verified all the way to Intel's root:"
  "$build/mosaik" tdx verify ../shared/testdata/tdx/phala-v4/quote.bin \
      --collateral ../shared/testdata/tdx/phala-v4/collateral.json --at 1752919234 \
      | grep -E '^(verified|quote_version|body|tcb_status|advisory_ids|fmspc|mrtd):' || true
  echo
fi
exec "$build/mosaik" demo "$@"
