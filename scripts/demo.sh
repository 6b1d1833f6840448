#!/usr/bin/env bash
# make demo: a local mixed network of attested nodes (simulated TDX and
# SEV-SNP), showing who is admitted, who is refused and why, data flowing,
# and a ticket expiring.
# Arguments are passed to `mosaik demo` (e.g. --json, --duration S).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
if [ -d ../shared/testdata/tdx/phala-v4 ]; then
  # The recorded quote's collateral was current on 2025-07-19 (its TCB info
  # expired a second later), so it is verified at that time, and says so.
  at=2025-07-19T10:00:34Z
  echo "== first, a real Intel TDX quote (recorded) verified all the way to Intel's root,"
  echo "   with the collateral recorded with it, at $at (--at: when that collateral"
  echo "   was current; it has expired since, so 'now' would be refused):"
  "$build/mosaik" tdx verify ../shared/testdata/tdx/phala-v4/quote.bin \
      --collateral ../shared/testdata/tdx/phala-v4/collateral.json --at "$at" \
      | grep -E '^(verified|at|result|quote_version|body|tcb_status|advisory_ids|fmspc|mrtd):' || true
  echo
fi
# The producer serves its status page on a free loopback port and the demo
# prints the URL (it costs nothing: the page is served between sends).
exec "$build/mosaik" demo --http 127.0.0.1:0 "$@"
