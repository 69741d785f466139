import http from 'node:http';

export interface DemoReceiver {
  readonly url: string;
  close(): Promise<void>;
}

/** The demo workspace's webhook target: logs one line per delivered event so a newcomer sees it arrive. */
export function startDemoReceiver(port: number, log: (line: string) => void): Promise<DemoReceiver> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let summary = Buffer.concat(chunks).toString('utf8');
      try {
        const event = JSON.parse(summary) as Record<string, unknown>;
        summary = `${String(event.type)} ${event.event ? `"${String(event.event)}" ` : ''}from ${String(event.userId ?? event.anonymousId)} (messageId ${String(event.messageId)})`;
      } catch {
        // Not JSON: log it as it came.
      }
      log(`demo receiver got ${req.method} ${req.url}: ${summary}`);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`demo receiver cannot listen on 127.0.0.1:${port} (set FERRY_DEMO_RECEIVER_PORT): ${err.message}`)));
    server.listen(port, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${port}/events`,
        close: () => new Promise<void>((r) => server.close(() => r())),
      }),
    );
  });
}
