import net from 'node:net';

/**
 * A port that was free on 127.0.0.1 a moment ago. Another process may take it before the caller
 * binds it: servers of Ferry's own bind port 0 instead, and a caller handing ports to another
 * program goes through withFreePorts, which tries again when one was taken meanwhile.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The messages a program prints when the port it was given is already taken. */
const PORT_TAKEN = /EADDRINUSE|address already in use/i;

/**
 * Starts a program on `count` free ports, picking new ones and starting again (up to `attempts`
 * times) when it fails because another process took one of them in between.
 */
export async function withFreePorts<T>(count: number, start: (ports: number[]) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
    try {
      return await start(ports);
    } catch (err) {
      if (attempt >= attempts || !PORT_TAKEN.test(describe(err))) throw err;
    }
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return [err.message, err.cause instanceof Error ? err.cause.message : ''].join(' ');
}
