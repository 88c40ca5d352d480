import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.js';
import type { Clock } from '../lib/clock.js';
import { checkCaBundle, createAdminListener, renewAdminListenerContext } from '../perimeter/admin-listener.js';
import { buildApp } from './app.js';
import { ensureInitialAdmin } from './bootstrap.js';
import { createLogger, type Logger } from './logger.js';
import { createRedirectServer } from './redirect.js';
import { openServices, type Services } from './services.js';
import { certificateNames, ensureSelfSigned, loadCertificate, startCertificateRenewal, tlsContextOptions, type ServerCertificate } from './tls.js';

export interface RunningServer {
  app: FastifyInstance;
  services: Services;
  url: string;
  port: number;
  httpPort: number | null;
  /** The mutual-TLS admin listener's port, when configured. */
  adminPort: number | null;
  certificate: ServerCertificate;
  /** True when this start created the initial admin: an empty database met for the first time. */
  firstRun: boolean;
  close(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  log?: Logger;
  /** Where one-time lines (initial password, listening line) go; stdout by default. */
  print?: (line: string) => void;
  /** Called after a generated certificate has been renewed and is in use (the local agent re-pins). */
  onCertificateRenewed?: (cert: ServerCertificate) => void;
}

async function certificateFor(config: Config, clock: Clock): Promise<ServerCertificate> {
  const { certFile, keyFile } = config.server.tls;
  if (certFile && keyFile) return loadCertificate(certFile, keyFile);
  if (certFile || keyFile) throw new Error('server.tls: set both certFile and keyFile, or neither for a generated certificate');
  return ensureSelfSigned({ dir: join(config.dataDir, 'tls'), names: config.server.tls.names, clock });
}

/** The optional mutual-TLS admin listener, serving the same app as the main one. */
async function startAdminListener(config: Config, app: FastifyInstance, mainCertificate: ServerCertificate) {
  const settings = config.perimeter.adminListener;
  if (!settings) return null;
  let caPem: string;
  try {
    caPem = await readFile(settings.caFile, 'utf8');
  } catch (err) {
    throw new Error(`perimeter.adminListener.caFile: cannot read ${settings.caFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  checkCaBundle(caPem, settings.caFile);
  if (Boolean(settings.certFile) !== Boolean(settings.keyFile)) throw new Error('perimeter.adminListener: set both certFile and keyFile, or neither to reuse the main certificate');
  const ownCertificate = settings.certFile && settings.keyFile ? await loadCertificate(settings.certFile, settings.keyFile) : null;
  const server = createAdminListener({ tls: tlsContextOptions(ownCertificate ?? mainCertificate), caPem, handler: (req, res) => app.routing(req, res) });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host ?? config.server.host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : settings.port,
    /** Follows the main certificate's renewals when it has none of its own. */
    renew: (cert: ServerCertificate) => {
      if (!ownCertificate) renewAdminListenerContext(server, tlsContextOptions(cert), caPem);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const displayHost = (host: string) => (host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host);

/** Starts one node: services, migrations, first admin, HTTPS (and the optional redirect port). */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? createLogger(config.log.level);
  const print = opts.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const services = await openServices(config, { log, clock: opts.clock });
  const closers: Array<() => Promise<void> | void> = [() => services.close()];
  const close = async () => {
    for (const closer of closers.reverse()) await closer();
  };
  try {
    const certificate = await certificateFor(config, services.clock);
    const firstRun = (await ensureInitialAdmin(services, print)) !== null;
    const app = await buildApp(services, { https: tlsContextOptions(certificate) });
    closers.push(() => app.close());
    await app.listen({ host: config.server.host, port: config.server.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.server.port;
    const adminListener = await startAdminListener(config, app, certificate);
    if (adminListener) closers.push(adminListener.close);

    if (certificate.selfSigned) {
      const stop = startCertificateRenewal({
        dir: join(config.dataDir, 'tls'),
        names: config.server.tls.names,
        clock: services.clock,
        onRenew: (cert) => {
          (app.server as unknown as HttpsServer).setSecureContext(tlsContextOptions(cert));
          adminListener?.renew(cert);
          log.info({ fingerprint: cert.fingerprint }, 'certificate renewed');
          opts.onCertificateRenewed?.(cert);
        },
        onError: (err) => log.error({ err }, 'certificate renewal failed'),
      });
      closers.push(stop);
    }

    let httpPort: number | null = null;
    if (config.server.httpPort !== undefined) {
      const redirect: Server = createRedirectServer({
        httpsPort: port,
        publicUrl: config.server.publicUrl,
        tlsNames: config.server.tls.names,
        certificateNames: certificateNames(certificate.certPem),
      });
      await new Promise<void>((resolve, reject) => {
        redirect.once('error', reject);
        redirect.listen(config.server.httpPort, config.server.host, () => resolve());
      });
      const redirectAddress = redirect.address();
      httpPort = typeof redirectAddress === 'object' && redirectAddress ? redirectAddress.port : null;
      closers.push(() => new Promise<void>((resolve) => redirect.close(() => resolve())));
    }

    const url = `https://${displayHost(config.server.host)}:${port}`;
    print(`listening url=${url} fingerprint=${certificate.fingerprint}`);
    return { app, services, url, port, httpPort, adminPort: adminListener?.port ?? null, certificate, firstRun, close };
  } catch (err) {
    await close();
    throw err;
  }
}
