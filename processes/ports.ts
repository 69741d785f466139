import net from 'node:net';

/**
 * A port that was free on 127.0.0.1 a moment ago. Another process may take it before the caller
 * binds it: servers Ferry runs itself bind port 0 instead, and callers handing a port to another
 * program retry on EADDRINUSE.
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
