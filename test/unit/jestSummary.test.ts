/**
 * scripts/jestSummary.js, the closing line of `npm test`, run as test.sh runs it: on a file of jest's
 * --json output and jest's exit status.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../config/paths';

const SCRIPT = path.join(PROJECT_ROOT, 'scripts', 'jestSummary.js');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-jest-summary-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

let files = 0;
function summarise(results: unknown, status = 0): { line: string; code: number | null } {
  const file = path.join(dir, `results-${++files}.json`);
  if (results !== undefined) fs.writeFileSync(file, typeof results === 'string' ? results : JSON.stringify(results));
  const run = spawnSync(process.execPath, [SCRIPT, file, String(status)], { encoding: 'utf8' });
  return { line: `${run.stdout}${run.stderr}`.trim().replaceAll(file, '<file>'), code: run.status };
}

/** The counts of jest's AggregatedResult that the line reads, as a clean run has them. */
function results(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    success: true,
    wasInterrupted: false,
    numTotalTests: 302,
    numPassedTests: 302,
    numFailedTests: 0,
    numPendingTests: 0,
    numTodoTests: 0,
    numTotalTestSuites: 26,
    numPassedTestSuites: 26,
    numFailedTestSuites: 0,
    numPendingTestSuites: 0,
    numRuntimeErrorTestSuites: 0,
    testResults: [],
    ...overrides,
  };
}

describe('jest summary line', () => {
  it('reads clean for a clean run', () => {
    expect(summarise(results())).toEqual({ line: 'jest: 302 passed, 0 failed, 0 skipped; suites: 26 passed, 0 failed', code: 0 });
  });

  it('counts failed tests and skipped ones', () => {
    const failing = results({ success: false, numPassedTests: 297, numFailedTests: 2, numPendingTests: 3, numPassedTestSuites: 25, numFailedTestSuites: 1 });
    expect(summarise(failing, 1)).toEqual({ line: 'jest: 297 passed, 2 failed, 3 skipped; suites: 25 passed, 1 failed', code: 1 });
  });

  it('shows a suite that failed in beforeAll/afterAll although every test passed', () => {
    // What jest writes when afterAll throws: the test passed, the suite failed.
    const hookFailed = results({ success: false, numPassedTests: 302, numPassedTestSuites: 25, numFailedTestSuites: 1, numRuntimeErrorTestSuites: 1 });
    expect(summarise(hookFailed, 1)).toEqual({ line: 'jest: 302 passed, 0 failed, 0 skipped; suites: 25 passed, 1 failed (1 outside any test)', code: 1 });
  });

  it('never reads clean when jest failed for another reason', () => {
    expect(summarise(results({ success: false }), 1)).toEqual({
      line: 'jest: 302 passed, 0 failed, 0 skipped; suites: 26 passed, 0 failed; but jest failed (exit status 1), see above',
      code: 1,
    });
    expect(summarise(results(), 1).line).toMatch(/; but jest failed \(exit status 1\), see above$/);
    expect(summarise(results({ wasInterrupted: true }), 130)).toEqual({
      line: 'jest: 302 passed, 0 failed, 0 skipped; suites: 26 passed, 0 failed; interrupted; but jest failed (exit status 130), see above',
      code: 1,
    });
  });

  it.each([
    ['missing', undefined, 'does not exist'],
    ['empty', '', 'is empty'],
    ['not JSON', '{"numPassedTests": 3,', 'is not JSON'],
    ['without counts', '[]', 'has no test counts'],
  ])('says so when the output file is %s (jest crashed)', (_case, content, why) => {
    expect(summarise(content, 1)).toEqual({ line: `jest: NO RESULTS: jest's JSON output <file> ${why}; jest crashed or stopped early (exit status 1), see above`, code: 2 });
  });
});
