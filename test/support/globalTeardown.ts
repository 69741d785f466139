import fs from 'node:fs';
import path from 'node:path';

export default async function globalTeardown(): Promise<void> {
  const dir = process.env.FERRY_TEST_DIR;
  if (!dir) return;
  const pidFile = path.join(dir, 'stack.pid');
  if (fs.existsSync(pidFile)) {
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    try {
      process.kill(pid, 'SIGTERM');
      // The stack stops the dev server and PostgreSQL on SIGTERM; wait for it so ports are freed.
      for (let i = 0; i < 150; i++) {
        process.kill(pid, 0);
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch {
      // Already gone.
    }
  }
  if (!process.env.FERRY_TEST_KEEP) fs.rmSync(dir, { recursive: true, force: true });
}
