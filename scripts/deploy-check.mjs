// What `wrangler deploy` would ship, checked offline (make test runs it):
//   - `wrangler deploy --dry-run --outdir target/deploy-dry-run` validates the
//     config, bundles the Worker and lists its bindings, with no login;
//   - the bundle must fit the Free plan's 3 MiB after gzip (wrangler prints
//     the size but never fails on it);
//   - every Durable Object class bound in wrangler.toml must be created by a
//     [[migrations]] entry, or the deploy would be refused.
// Prints the figures; exits non-zero on any failure.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const LIMIT = 3 * 1024 * 1024;
const out = 'target/deploy-dry-run';
rmSync(out, { recursive: true, force: true });

let log;
try {
  log = execFileSync('node_modules/.bin/wrangler', ['deploy', '--dry-run', '--outdir', out], {
    encoding: 'utf8',
    env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
} catch (e) {
  console.error(e.stdout ?? '', e.stderr ?? '');
  console.error('deploy check: `wrangler deploy --dry-run` failed (the config or the build is wrong)');
  process.exit(1);
}

const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else files.push(p);
  }
};
walk(out);
let raw = 0;
let gz = 0;
for (const f of files) {
  const bytes = readFileSync(f);
  raw += bytes.length;
  gz += gzipSync(bytes, { level: 9 }).length;
}
const mib = (n) => (n / 1024 / 1024).toFixed(2);
console.log(`deploy check: ${files.length} files, ${mib(raw)} MiB raw, ${mib(gz)} MiB gzip (limit ${mib(LIMIT)} MiB)`);
const said = log.match(/Total Upload:[^\n]*/);
if (said) console.log(`deploy check: wrangler says ${said[0]}`);
if (gz > LIMIT) {
  console.error(`deploy check: the Worker is ${mib(gz)} MiB gzip, over the Free plan's ${mib(LIMIT)} MiB`);
  process.exit(1);
}

// Durable Object classes bound, against the classes the migrations create.
const toml = readFileSync('wrangler.toml', 'utf8');
const sections = toml.split(/\n(?=\[)/);
const bound = sections
  .filter((s) => s.startsWith('[[durable_objects.bindings]]'))
  .map((s) => s.match(/class_name\s*=\s*"([^"]+)"/)?.[1])
  .filter(Boolean);
const created = new Set(
  sections
    .filter((s) => s.startsWith('[[migrations]]'))
    .flatMap((s) => [...s.matchAll(/new_(?:sqlite_)?classes\s*=\s*\[([^\]]*)\]/g)])
    .flatMap((m) => [...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1])),
);
const missing = bound.filter((c) => !created.has(c));
console.log(`deploy check: Durable Object classes ${bound.join(', ')}; created by migrations: ${[...created].join(', ')}`);
if (missing.length) {
  console.error(`deploy check: no [[migrations]] entry creates ${missing.join(', ')}`);
  process.exit(1);
}
for (const c of bound) {
  if (!new RegExp(`\\b${c}\\b`).test(log)) {
    console.error(`deploy check: the dry run does not list the binding of ${c}`);
    process.exit(1);
  }
}
console.log('deploy check: passed');
