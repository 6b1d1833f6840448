// Times @phala/dcap-qvl-web (dcap-qvl compiled to WebAssembly) verifying a
// quote with its collateral bundle: the named peer of bench_tdx_verify.
// usage: node dcap_qvl_web.mjs MODULE_DIR QUOTE COLLATERAL_JSON NOW ITERATIONS
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [moduleDir, quotePath, collPath, nowStr, itersStr] = process.argv.slice(2);
const mod = await import(pathToFileURL(join(moduleDir, 'dcap-qvl-web.js')).href);
mod.initSync({ module: readFileSync(join(moduleDir, 'dcap-qvl-web_bg.wasm')) });
const quote = new Uint8Array(readFileSync(quotePath));
const coll = JSON.parse(readFileSync(collPath, 'utf8'));
const now = BigInt(nowStr);
const iters = Number(itersStr);
const first = mod.js_verify(quote, coll, now);
for (let i = 0; i < Math.min(20, iters); i++) mod.js_verify(quote, coll, now); // warm-up
const t0 = process.hrtime.bigint();
for (let i = 0; i < iters; i++) mod.js_verify(quote, coll, now);
const t1 = process.hrtime.bigint();
console.log(`dcap_qvl_web_status: ${first.status}`);
console.log(`dcap_qvl_web_verify: ${(Number(t1 - t0) / 1000 / iters).toFixed(1)} us`);
