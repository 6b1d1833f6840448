// bench/lit_sev_snp.js — the named peer of bench_snp_verify:
// @lit-protocol/sev-snp-utils-sdk (a WebAssembly build of a Rust SEV-SNP
// verifier) verifying the same report with the same VCEK.
//   node bench/lit_sev_snp.js SDK_DIR REPORT VCEK_DER [ITERATIONS]
// Prints `lit_sev_snp_verify: <mean µs> us` over ITERATIONS awaited calls
// after one warm-up. The SDK checks the VCEK's chain to its embedded Milan
// ARK/ASK and the report signature; it checks no policy, dates or length.
'use strict';
const fs = require('fs');
const path = require('path');
const [sdkDir, reportPath, vcekPath, itersArg] = process.argv.slice(2);
const sdk = require(path.resolve(sdkDir));
(async () => {
  await sdk.initWasmSevSnpUtilsSdk();
  const report = fs.readFileSync(reportPath).toString('base64');
  const vcek = new Uint8Array(fs.readFileSync(vcekPath));
  await sdk.verify_attestation_report(report, vcek);
  const n = Number(itersArg || 50);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await sdk.verify_attestation_report(report, vcek);
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  console.log(`lit_sev_snp_verify: ${us.toFixed(1)} us`);
})().catch((e) => {
  console.error('lit_sev_snp: refused: ' + String(e));
  process.exit(1);
});
