// Preloaded into a target by bench/alloc.js (`node --require bench/alloc-sampler.js …`): V8's sampling heap
// profiler, counting objects the garbage collector has already taken as well (so the figures are what was
// allocated, not what is still alive). The first SIGUSR2 starts it, the second writes the profile to
// ALLOC_PROFILE_FILE. A measuring aid, never loaded by the service itself.
'use strict';
const { writeFileSync } = require('node:fs');
const { Session } = require('node:inspector');

const SAMPLING_INTERVAL_BYTES = 4_096;
const session = new Session();
session.connect();
let sampling = false;
process.on('SIGUSR2', () => {
  if (!sampling) {
    sampling = true;
    session.post('HeapProfiler.enable', () =>
      session.post('HeapProfiler.startSampling', {
        samplingInterval: SAMPLING_INTERVAL_BYTES,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      }),
    );
    return;
  }
  session.post('HeapProfiler.stopSampling', (error, result) => {
    if (!error) writeFileSync(process.env.ALLOC_PROFILE_FILE, JSON.stringify(result.profile));
  });
});
