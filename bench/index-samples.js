// A model of the job index's stale-entry sampling (src/jobs/job-index.ts, registerLua in src/jobs/tenant-quota.ts),
// run in memory to tell where the stale share of an index settles: registrations of `n` jobs each; retention keeping
// the newest LIVE jobs (removing the oldest first, or one at random); before each registration the checks of the
// rule (a window of neighbours by rank from a random place, wrapping around: first blocks of neighbours spread over
// it, the rest where those found stale ones), the stale ones it finds dropped.
// Prints, for each batch size, the mean and the highest stale share over the second half of the run and the
// entries checked per job added, with every check at once ("all") and with the rule ("first"). No Redis: the Lua
// script's behaviour is tested against a real redis-server in test/integration/job-index.spec.ts.
//
//   node bench/index-samples.js [--live 4000] [--jobs 200000]
'use strict';
const { parseArgs } = require('node:util');
const {
  FIRST_BLOCK,
  FIRST_SAMPLES_SHARE,
  INDEX_SAMPLES,
  MAX_SAMPLES,
  MIN_FIRST_SAMPLES,
  STALE_SHARE_TO_GO_ON,
} = require('../dist/jobs/job-index');

const { values } = parseArgs({
  options: { live: { type: 'string', default: '4000' }, jobs: { type: 'string', default: '200000' } },
});
const LIVE = Number(values.live);
const JOBS = Number(values.jobs);

/** The checks of one registration of `n` jobs: all of them, and how many first (as registerLua picks them). */
function checks(n, adaptive) {
  const samples = Math.min(INDEX_SAMPLES * n, MAX_SAMPLES);
  const first = adaptive ? Math.max(Math.ceil(samples / FIRST_SAMPLES_SHARE), MIN_FIRST_SAMPLES) : samples;
  return { samples, first: Math.min(first, samples) };
}

function run(n, order, adaptive) {
  let index = []; // job numbers in registration order
  const alive = new Set();
  const kept = []; // alive jobs, oldest first
  let next = 0;
  let checked = 0;
  let shares = 0;
  let counted = 0;
  let highest = 0;
  const registrations = Math.ceil(JOBS / n);
  for (let r = 0; r < registrations; r++) {
    const past = index.length;
    if (past > 0) {
      const { samples, first } = checks(n, adaptive);
      const total = Math.min(samples, past);
      const from = Math.floor(Math.random() * past);
      const at = (offset) => index[(from + offset) % past];
      const stale = [];
      // The first checks in blocks of FIRST_BLOCK neighbours spread evenly over the window, the others only where
      // they found stale ones.
      const head = Math.min(first, total);
      const blocks = Math.ceil(head / FIRST_BLOCK);
      const spacing = Math.floor(total / blocks);
      const isFirst = (offset) =>
        head === total || (offset % spacing < FIRST_BLOCK && Math.floor(offset / spacing) < blocks);
      const firstOnes = Array.from({ length: total }, (_, offset) => offset).filter(isFirst);
      for (const offset of firstOnes) if (!alive.has(at(offset))) stale.push(at(offset));
      checked += firstOnes.length;
      if (head < total && stale.length > 0 && stale.length * STALE_SHARE_TO_GO_ON >= firstOnes.length) {
        for (let offset = 0; offset < total; offset++) {
          if (isFirst(offset)) continue;
          if (!alive.has(at(offset))) stale.push(at(offset));
          checked++;
        }
      }
      if (stale.length > 0) {
        const gone = new Set(stale);
        index = index.filter((job) => !gone.has(job));
      }
    }
    for (let i = 0; i < n; i++, next++) {
      index.push(next);
      alive.add(next);
      kept.push(next);
    }
    while (alive.size > LIVE) {
      if (order === 'oldest') alive.delete(kept.shift());
      else alive.delete(kept.splice(Math.floor(Math.random() * kept.length), 1)[0]);
    }
    if (r >= registrations / 2) {
      const share = 1 - alive.size / index.length;
      shares += share;
      counted++;
      highest = Math.max(highest, share);
    }
  }
  return { mean: shares / counted, highest, perJob: checked / (registrations * n) };
}

const f = (x) => x.toFixed(3);
console.log(`${LIVE} jobs kept, ${JOBS} registered; stale share mean / highest, entries checked per job`);
for (const order of ['oldest', 'random']) {
  for (const n of [1, 2, 4, 10, 30, 100, 300, 1000]) {
    const all = run(n, order, false);
    const rule = run(n, order, true);
    console.log(
      `removing ${order.padEnd(6)} batch ${String(n).padStart(4)}: all ${f(all.mean)} / ${f(all.highest)}, ${all.perJob.toFixed(2)}` +
        `   first ${f(rule.mean)} / ${f(rule.highest)}, ${rule.perJob.toFixed(2)}`,
    );
  }
}
