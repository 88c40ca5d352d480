import https from 'node:https';
import type { HttpsClient } from '../harness/client.js';

export interface OpenStream {
  status: number;
  /** The error body of a refused stream. */
  json: { error?: { code: string; message: string } } | undefined;
  events: Array<{ event: string; data: unknown }>;
  /** Resolves when the server ends the response. */
  ended: Promise<void>;
  isEnded(): boolean;
  close(): void;
}

/** The credentials a stream is opened with: a browser's cookie jar or a bearer token. */
export type StreamAuth = { cookies: HttpsClient } | { bearer: string };

function headersOf(auth: StreamAuth): Record<string, string> {
  if ('bearer' in auth) return { authorization: `Bearer ${auth.bearer}` };
  return { cookie: [...auth.cookies.jar].map(([k, v]) => `${k}=${v}`).join('; ') };
}

/** Opens `GET /api/fleet/events` over HTTPS and parses the events as they come. */
export function openEventStream(server: { port: number; certificate: { certPem: string } }, auth: StreamAuth): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: server.port, path: '/api/fleet/events', method: 'GET', headers: headersOf(auth), ca: server.certificate.certPem, servername: 'localhost', agent: false },
      (res) => {
        let text = '';
        let done = false;
        const events: Array<{ event: string; data: unknown }> = [];
        const ended = new Promise<void>((resolveEnd) => {
          const finish = () => {
            done = true;
            resolveEnd();
          };
          res.on('end', finish);
          res.on('close', finish);
        });
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
          let end: number;
          while ((end = text.indexOf('\n\n')) >= 0) {
            const block = text.slice(0, end);
            text = text.slice(end + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (event && data) events.push({ event, data: JSON.parse(data) });
          }
        });
        const status = res.statusCode ?? 0;
        if (status === 200) {
          resolve({ status, json: undefined, events, ended, isEnded: () => done, close: () => req.destroy() });
          return;
        }
        void ended.then(() => {
          let json: OpenStream['json'];
          try {
            json = JSON.parse(text) as OpenStream['json'];
          } catch {
            json = undefined;
          }
          resolve({ status, json, events, ended, isEnded: () => true, close: () => req.destroy() });
        });
      },
    );
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    req.end();
  });
}

/** Waits for the stream to end, failing after `withinMs`; returns how long it took. */
export async function endsWithin(stream: OpenStream, withinMs: number): Promise<number> {
  const started = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the stream was still open after ${withinMs} ms`)), withinMs);
  });
  try {
    await Promise.race([stream.ended, timeout]);
  } finally {
    clearTimeout(timer);
  }
  return Date.now() - started;
}

/** The reason in the stream's last `end` event, if it had one. */
export const endReason = (stream: OpenStream): unknown => (stream.events.findLast((e) => e.event === 'end')?.data as { reason?: unknown } | undefined)?.reason;
