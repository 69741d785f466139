#!/usr/bin/env node
// The `ferry` command (package.json "bin"): runs the compiled CLI, cli/ferry.ts built to
// dist/cli/ferry.js by `npm run build`. Plain CommonJS so that node runs it as it is.
'use strict';
/* global process */

// eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS run by plain node: require is its import.
const path = require('node:path');

const entry = path.join(__dirname, '..', 'dist', 'cli', 'ferry.js');
let cli;
try {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the compiled CLI, found at run time.
  cli = require(entry);
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(entry)) {
    process.stderr.write(`ferry: ${entry} is missing: run \`npm run build\` first\n`);
    process.exit(1);
  }
  throw err;
}
cli.main();
