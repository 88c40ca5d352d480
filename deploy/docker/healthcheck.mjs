// Container health check: GET /healthz on the local listener over HTTPS with
// certificate verification on. By default it trusts the self-signed
// certificate the server generated in the data dir; with your own certificate
// (server.tls.certFile) point HEALTHCHECK_CA at its CA bundle and
// HEALTHCHECK_SERVERNAME at a name it carries.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

const port = Number(process.env.FLOTILLA_SERVER_PORT || 8768);
const caFile = process.env.HEALTHCHECK_CA || `${process.env.FLOTILLA_DATA_DIR || '/data'}/tls/cert.pem`;
const servername = process.env.HEALTHCHECK_SERVERNAME || 'localhost';

function fail(message) {
  console.error(`healthcheck: ${message}`);
  process.exit(1);
}

let ca;
try {
  ca = readFileSync(caFile);
} catch (err) {
  fail(`cannot read ${caFile} (${err.code ?? err.message})`);
}

const req = request({ host: '127.0.0.1', port, path: '/healthz', servername, ca, timeout: 4000 }, (res) => {
  res.resume();
  if (res.statusCode !== 200) fail(`/healthz answered ${res.statusCode}`);
  process.exit(0);
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (err) => fail(err.message));
req.end();
