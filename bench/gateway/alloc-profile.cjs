// What a request allocates inside the gateway, by function: V8's sampling heap profiler with the
// objects that scavenges and full collections freed kept in the profile (what `--heap-prof` leaves
// out), so the profile is of allocation, not of what stayed alive. Bytes per request divide the
// sampled total by the requests the server saw (node's `http.server.request.start` channel).
// Load it into any variant (an absolute path: NODE_OPTIONS' --require takes a bare name for a package):
//
//   node bench/gateway/run.mjs --runs 1 --rates 300 --alt-preload packages/otel-setup/dist/preload.js \
//     --variants "bare+NODE_OPTIONS=--require $PWD/bench/gateway/alloc-profile.cjs,alt+NODE_OPTIONS=--require $PWD/bench/gateway/alloc-profile.cjs"
//
// At the gateway's exit it writes ALLOC_PROFILE_OUT (default: alloc-PID.heapprofile in the temporary
// directory; open it in Chrome's DevTools) and a summary beside it (.txt): bytes per request, and the
// functions that allocate most. A measuring aid, not part of the product.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const inspector = require('node:inspector');
const dc = require('node:diagnostics_channel');

const out = process.env.ALLOC_PROFILE_OUT || path.join(os.tmpdir(), `alloc-${process.pid}.heapprofile`);
const session = new inspector.Session();
session.connect();
let requests = 0;
let startedAt = 0;
dc.subscribe('http.server.request.start', () => {
  // the first request starts the profile: start-up's allocations are not the request path's
  if (requests++ === 0) {
    startedAt = performance.now();
    session.post('HeapProfiler.startSampling', {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      // ALLOC_PROFILE_SURVIVORS=1: leave out what scavenges freed, keeping what outlived the young
      // generation (promoted, then freed by a full collection or still alive): what drives full collections
      includeObjectsCollectedByMinorGC: process.env.ALLOC_PROFILE_SURVIVORS !== '1',
    });
  }
});

process.on('exit', () => {
  if (requests === 0) return;
  // an in-process session answers synchronously
  session.post('HeapProfiler.stopSampling', (err, r) => {
    if (err) return void process.stderr.write(`alloc-profile: ${err.message}\n`);
    fs.writeFileSync(out, JSON.stringify(r.profile));
    const byFunction = new Map();
    let total = 0;
    const walk = (n) => {
      const f = n.callFrame;
      const key = `${f.functionName || '(anonymous)'} ${path.basename(f.url || '')}:${f.lineNumber + 1}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + n.selfSize);
      total += n.selfSize;
      for (const c of n.children) walk(c);
    };
    walk(r.profile.head);
    const rows = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 60);
    const lines = [
      `requests ${requests}, ${((performance.now() - startedAt) / 1000).toFixed(1)} s; sampled allocation ${(total / 1048576).toFixed(1)} MiB, ${(total / requests / 1024).toFixed(2)} KiB per request`,
      ...rows.map(([k, v]) => `${(v / requests).toFixed(0).padStart(8)} B/req  ${k}`),
    ];
    fs.writeFileSync(out.replace(/\.heapprofile$/, '') + '.txt', lines.join('\n') + '\n');
  });
});
