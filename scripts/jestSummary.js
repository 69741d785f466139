// The closing line of `npm test`, read from jest's --json output file: one plain line that any CI
// reader understands, whatever jest printed above it. It counts failed suites as well as failed tests,
// because a suite failing outside any test (beforeAll/afterAll, an import) leaves numFailedTests at 0.
//
// Usage: node scripts/jestSummary.js <results.json> [jest's exit status]
// Exits 0 for a clean run, 1 for a failed one, 2 when there are no results to read (jest crashed).
// Plain CommonJS so that test.sh runs it without a build.
'use strict';
/* global process, console */

// eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS run by plain node: require is its import.
const fs = require('node:fs');

const COUNTS = ['numPassedTests', 'numFailedTests', 'numPendingTests', 'numPassedTestSuites', 'numFailedTestSuites'];

/** @returns {{ results: Record<string, unknown> } | { problem: string }} */
function readResults(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return { problem: err.code === 'ENOENT' ? 'does not exist' : `cannot be read (${err.message})` };
  }
  // test.sh creates the file before jest runs, so a crash leaves it empty rather than missing.
  if (text.trim() === '') return { problem: 'is empty' };
  let results;
  try {
    results = JSON.parse(text);
  } catch {
    return { problem: 'is not JSON' };
  }
  if (results === null || typeof results !== 'object' || !COUNTS.every((key) => typeof results[key] === 'number')) {
    return { problem: 'has no test counts' };
  }
  return { results };
}

/** @returns {{ line: string, code: number }} */
function summarise(file, status) {
  const exitStatus = status === undefined ? '' : ` (exit status ${status})`;
  const read = readResults(file);
  if (read.problem) {
    return { line: `jest: NO RESULTS: jest's JSON output ${file} ${read.problem}; jest crashed or stopped early${exitStatus}, see above`, code: 2 };
  }
  const r = read.results;
  let line = `jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped; suites: ${r.numPassedTestSuites} passed, ${r.numFailedTestSuites} failed`;
  if (r.numRuntimeErrorTestSuites > 0) line += ` (${r.numRuntimeErrorTestSuites} outside any test)`;
  if (r.wasInterrupted === true) line += '; interrupted';
  const countsFailed = r.numFailedTests > 0 || r.numFailedTestSuites > 0;
  // Jest can fail with clean counts (an obsolete snapshot under --ci, a coverage threshold, Ctrl-C):
  // the line must not read clean then either.
  const jestFailed = r.success === false || r.wasInterrupted === true || (status !== undefined && status !== 0);
  if (jestFailed && !countsFailed) line += `; but jest failed${exitStatus}, see above`;
  return { line, code: countsFailed || jestFailed ? 1 : 0 };
}

const [file, statusArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/jestSummary.js <results.json> [exit status]');
  process.exit(2);
}
const status = statusArg === undefined || statusArg === '' ? undefined : Number(statusArg);
const { line, code } = summarise(file, status);
console.log(line);
process.exitCode = code;
