// Resource figures of the demo site (issue 11, points 1, 3 and 4), measured against a
// running release binary over real HTTP:
//   memory     RSS after 1,000 registrations + 1,000 logins, and after a second round
//   fairness   login latency while 100 registrations are attempted at once
//   slowloris  300 half-sent requests: how long until the server closed them, and the
//              site's latency meanwhile
// Usage: node bench/demo-resources.mjs   (DEMO_BIN = binary; see demo-resources.sh)
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';

const bin = process.env.DEMO_BIN;
const password = 'correct horse battery staple';
const dataDir = await mkdtemp(path.join(tmpdir(), 'demo-resources-'));

function start() {
  const child = spawn(bin, [], {
    env: {
      ...process.env,
      PORT: '0',
      DATA_DIR: dataDir,
      SESSION_STORE: `sqlite://${dataDir}/demo.db`,
      USER_DB: `sqlite://${dataDir}/demo.db`,
      SESSION_SECRET: 'a benchmark secret that is at least thirty-two bytes long',
      REGISTER_LIMIT: '1000000',
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`demo exited with ${code}`)));
    child.stdout.on('data', (d) => {
      const m = /http:\/\/([^/]+)\//.exec(d.toString());
      if (m) resolve({ child, base: `http://${m[1]}`, host: m[1] });
    });
  });
}

async function rssMiB(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
}

async function post(base, p, body) {
  const t0 = performance.now();
  const r = await fetch(base + p, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': '' },
    body: JSON.stringify(body),
  });
  await r.arrayBuffer();
  return { status: r.status, ms: performance.now() - t0 };
}

async function pool(n, width, f) {
  let next = 0;
  const out = new Array(n);
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) { const i = next++; out[i] = await f(i); }
  }));
  return out;
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const f1 = (x) => x.toFixed(1);

const { child, base, host } = await start();
const pid = child.pid;
const results = {};
try {
  // Memory.
  results.rss_start = await rssMiB(pid);
  for (const round of [1, 2]) {
    const regs = await pool(1000, 16, (i) => post(base, '/api/register', { email: `r${round}-${i}@example.com`, password }));
    if (regs.some((r) => r.status !== 201)) throw new Error(`registration failed: ${regs.find((r) => r.status !== 201).status}`);
    results[`rss_after_${round}k_registrations`] = await rssMiB(pid);
    const logins = await pool(1000, 16, (i) => post(base, '/api/login', { email: `r${round}-${i}@example.com`, password }));
    if (logins.some((r) => r.status !== 200)) throw new Error('login failed');
    results[`rss_after_${round}k_logins`] = await rssMiB(pid);
  }

  // Fairness: idle login latency, then logins while 100 registrations are in flight.
  await post(base, '/api/register', { email: 'fair@example.com', password });
  const idle = [];
  for (let i = 0; i < 20; i++) idle.push((await post(base, '/api/login', { email: 'fair@example.com', password })).ms);
  const flood = pool(100, 100, (i) => post(base, '/api/register', { email: `flood-${i}@example.com`, password }));
  const busy = [];
  await new Promise((r) => setTimeout(r, 20));
  for (let i = 0; i < 20; i++) busy.push((await post(base, '/api/login', { email: 'fair@example.com', password })).ms);
  const floodDone = await flood;
  results.login_idle_p50_ms = pct(idle, 0.5);
  results.login_idle_p99_ms = pct(idle, 0.99);
  results.login_during_100_registrations_p50_ms = pct(busy, 0.5);
  results.login_during_100_registrations_p99_ms = pct(busy, 0.99);
  results.registrations_in_flood_201 = floodDone.filter((r) => r.status === 201).length;

  // Slowloris: 300 half-sent requests; the site's latency while they are open; when the
  // server closes them (given up after 60 s).
  const [h, port] = [host.split(':')[0], Number(host.split(':')[1])];
  const t0 = performance.now();
  const closed = [];
  let allClosed;
  const done = new Promise((r) => { allClosed = r; });
  await Promise.all(Array.from({ length: 300 }, () => new Promise((opened) => {
    const s = net.connect(port, h, () => { s.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: '); opened(); });
    s.on('error', () => {});
    s.on('close', () => { closed.push(performance.now() - t0); if (closed.length === 300) allClosed(); });
    setTimeout(() => s.destroy(), 60_000).unref();
  })));
  const during = [];
  for (let i = 0; i < 20; i++) { const t = performance.now(); await (await fetch(base + '/healthz')).arrayBuffer(); during.push(performance.now() - t); }
  results.healthz_with_300_half_open_p99_ms = pct(during, 0.99);
  const timer = new Promise((r) => setTimeout(r, 62_000).unref());
  await Promise.race([done, timer]);
  const byServer = closed.filter((t) => t < 59_000);
  results.half_open_closed_by_server = byServer.length;
  results.half_open_last_closed_after_s = byServer.length ? Math.max(...byServer) / 1000 : NaN;
} finally {
  child.removeAllListeners('exit');
  child.kill('SIGTERM');
  await rm(dataDir, { recursive: true, force: true });
}
for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(44)} ${typeof v === 'number' ? f1(v) : v}`);
