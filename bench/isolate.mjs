// The isolate's own CPU per URL (#18): the built Worker under workerd alone
// (bench/workerd.capnp) with workerd's inspector open, V8's sampling CPU
// profiler on the Worker's isolate (Chrome DevTools Protocol, Profiler
// domain) while runs go through it; the isolate's busy time is the sampled
// time that is not "(idle)" (script, wasm, GC and V8's own work on the
// isolate's thread), divided by the URLs. The Free plan's limit is 10 ms of
// CPU per invocation, so a 50-URL request with extraction is the figure
// that matters.
//
//   make bench-isolate   (or `make bench`)
//
// Cases, each 10 requests after a warm-up, on a loopback upstream at 20 ms:
// 50 URLs with extraction, 50 without, and load mode (1,000 GETs of one URL).
// Writes the `bench:isolate` section of BENCHMARKS.md. Node 20 needs
// --experimental-websocket (scripts/bench.sh passes it). Bounded throughout.
import { spawn } from 'node:child_process';
import os from 'node:os';
import { cpuOf, sampleTick, selfTimes, startUpstream, writeSection } from './common.mjs';

const PORT = Number(process.env.FANOUT_ISOLATE_PORT ?? 8791);
const INSPECT = PORT + 1000;
const BASE = `http://127.0.0.1:${PORT}`;
const INTERVAL_US = Number(process.env.BENCH_PROFILE_US ?? 1000);
// The prose under the table: what earlier runs found (kept here so a rerun keeps it).
const NOTE = "The profiler adds its own cost, so the isolate figures are upper bounds; the process figure is one too, for every thread of workerd. What the Free plan's 10 ms per invocation means (#25): every shard is an invocation of its own, and a shard of a fanned-out 50-URL request with extraction spends a few ms (the 'per shard and request' column), within the limit; a shard's CPU grows with the pages it fetches (the 'shards per URL' column), so on Free a lane should move to a fresh shard every ~15 pages with extraction (`SUBREQUESTS_PER_INVOCATION`). The invocation that serves the client runs the one scheduler of the request, sends each attempt to a shard and merges what comes back: its CPU grows with the request's URLs (the 'entry per URL' column), and it is what bounds a Free request, to roughly 10 ms / (entry per URL) URLs. Passing a shard's event lines through untouched is not possible in this design, because the one scheduler must see every answer to keep the caps, the retries and the per-host pacing; what the entry handles per URL is one small message (the attempt out, its answer back, sent in frames of everything a turn produced) plus the event line it writes. History of this section: before 2026-12-02 it summed each sample's time delta, which counted the waits between turns as work; reading bodies with one stream reader of Fanout's own and a text handler only inside `[itemprop]` elements each cut the figures with and without extraction by 10–15 % (measured interleaved with the builds before them). Framing the entry's and the shards' messages (one WebSocket frame per turn instead of one per attempt) cut workerd's process CPU per URL by about 15 % in interleaved runs on 2026-12-07.";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const workerd = spawn('node_modules/.bin/workerd', ['serve', 'bench/workerd.capnp', '--socket-addr', `http=127.0.0.1:${PORT}`, '--inspector-addr', `127.0.0.1:${INSPECT}`],
  { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
const stop = () => { try { process.kill(-workerd.pid, 'SIGTERM'); } catch { /* gone */ } };

async function up() {
  for (let i = 0; i < 60; i += 1) {
    try { if ((await fetch(`${BASE}/api/v1/health`, { signal: AbortSignal.timeout(1000) })).ok) return; } catch { /* not yet */ }
    await sleep(500);
  }
  throw new Error('workerd did not start');
}

/** A CDP session over the inspector's WebSocket, to the isolate of service `service`. */
async function inspector(service) {
  const list = await (await fetch(`http://127.0.0.1:${INSPECT}/json/list`)).json();
  const target = list.find((t) => t.id === service && t.webSocketDebuggerUrl);
  if (!target) throw new Error(`no inspector target ${service}: ${JSON.stringify(list.map((t) => t.id))}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  let id = 0;
  const waiting = new Map();
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.id && waiting.has(msg.id)) { waiting.get(msg.id)(msg); waiting.delete(msg.id); }
  };
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    id += 1;
    const timer = setTimeout(() => reject(new Error(`${method}: no answer`)), 60_000);
    waiting.set(id, (msg) => { clearTimeout(timer); msg.error ? reject(new Error(JSON.stringify(msg.error))) : resolve(msg.result); });
    ws.send(JSON.stringify({ id, method, params }));
  });
  return { send, close: () => ws.close() };
}

/** Sampled ms of a profile by kind: idle, program (V8 and the embedder outside script), gc, script (JS and wasm). */
function kinds(profile) {
  const kind = new Map(profile.nodes.map((n) => {
    const f = n.callFrame.functionName;
    return [n.id, f === '(idle)' ? 'idle' : f === '(program)' ? 'program' : f === '(garbage collector)' ? 'gc' : f === '(root)' ? 'program' : 'script'];
  }));
  const tick = sampleTick(profile);
  const out = { idle: 0, program: 0, gc: 0, script: 0, tick };
  profile.samples.forEach((s) => { out[kind.get(s)] += tick; });
  return out;
}

async function post(path, body) {
  const resp = await fetch(`${BASE}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`${path}: ${resp.status} ${text.slice(0, 200)}`);
  return text;
}

const upstream = await startUpstream(20);
try {
  await up();
  // The serving invocation (the Worker's isolate) and the shards (their own
  // isolate, as in production: bench/workerd.capnp), profiled apart.
  const entry = await inspector('main');
  const shards = await inspector('shards');
  const procs = [{ pid: workerd.pid, comm: 'workerd' }];
  for (const c of [entry, shards]) {
    await c.send('Profiler.enable');
    await c.send('Profiler.setSamplingInterval', { interval: INTERVAL_US });
  }
  const urls = Array.from({ length: 50 }, (_, i) => `${upstream.origin}/p/${i}`);
  const run = (extract, fanOut = true) => post('/api/v1/runs', { urls, concurrency: 50, per_host: 50, extract, save: false, fan_out: fanOut });
  const cases = [
    ['50 URLs, extraction on, fanned out', 50, () => run(true)],
    ['50 URLs, extraction off, fanned out', 50, () => run(false)],
    ['50 URLs, extraction on, one invocation (fan-out off)', 50, () => run(true, false)],
    ['load mode, 1,000 GETs at C=50, fanned out', 1000, () => post('/api/v1/load', { url: `${upstream.origin}/p/1`, requests: 1000, concurrency: 50 })],
  ];
  const rows = [];
  for (const [name, units, once] of cases) {
    await once(); // warm-up
    await entry.send('Profiler.start');
    await shards.send('Profiler.start');
    let invocations = 0;
    for (let k = 0; k < 10; k += 1) {
      const text = await once();
      const summary = text.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => JSON.parse(l)).findLast((e) => e.type === 'summary');
      invocations += summary?.invocations ?? 0;
    }
    const ep = (await entry.send('Profiler.stop')).profile;
    const sp = (await shards.send('Profiler.stop')).profile;
    const e = kinds(ep);
    const sh = kinds(sp);
    if (process.env.BENCH_TOP) {
      console.error(`${name}, entry:\n${selfTimes(ep, 25).map(([n, v]) => `  ${v} ${n}`).join('\n')}`);
      console.error(`${name}, shards:\n${selfTimes(sp, 25).map(([n, v]) => `  ${v} ${n}`).join('\n')}`);
    }
    // The same 10 requests with the profiler off: workerd's process CPU
    // (every thread of both isolates, their HTTP and I/O), an upper bound
    // that the profiler does not inflate.
    const before = cpuOf(procs).all;
    for (let k = 0; k < 10; k += 1) await once();
    const processMs = cpuOf(procs).all - before;
    rows.push({ name, units, e, sh, processMs, shardsPer: invocations / 10 });
    console.error(`${name}: entry ${((e.script + e.gc) / 10).toFixed(1)} ms per request, shards ${((sh.script + sh.gc) / (10 * units)).toFixed(3)} ms per URL`);
  }
  entry.close();
  shards.close();
  const day = new Date().toISOString().slice(0, 10);
  const f = (x) => x.toFixed(3);
  let md = '<!-- bench:isolate:start -->\n## The isolate\'s own CPU per URL\n\n';
  md += `Reproduce: \`make bench-isolate\` (${day}; ${os.cpus().length} cores). The built Worker under workerd alone (\`bench/workerd.capnp\`), the invocation that serves the client in the Worker's isolate and the shards it fans out to in an isolate of their own, as in production, with workerd's inspector open; V8's sampling profiler (every ${INTERVAL_US} µs) on each isolate over 10 requests of each kind after a warm-up, against a loopback upstream at 20 ms. The sampler takes a sample only while an isolate's thread is inside V8, so each sample counts as one tick of the sampler (its median interval); script (JS and wasm functions) and garbage collection are counted, not \`(program)\` (V8 and workerd's own work outside script) or idle. Then the same 10 requests again with the profiler off, and workerd's whole process CPU over them (/proc: every thread, both isolates and their HTTP and I/O): an upper bound the profiler does not inflate.\n\n`;
  md += '| case | entry: script + GC per request | entry per URL | shards: script + GC per URL | shards per request (all of them) | per shard and request (shards used) | workerd process CPU per URL, profiler off | Free plan, 10 ms per invocation |\n|---|---|---|---|---|---|---|---|\n';
  for (const r of rows) {
    const eg = r.e.script + r.e.gc;
    const sg = r.sh.script + r.sh.gc;
    const perShard = r.shardsPer > 0 ? sg / 10 / r.shardsPer : 0;
    const worst = Math.max(eg / 10, perShard);
    md += `| ${r.name} | ${(eg / 10).toFixed(1)} ms | ${f(eg / 10 / r.units)} ms | ${f(sg / 10 / r.units)} ms | ${(sg / 10).toFixed(1)} ms | ${r.shardsPer > 0 ? `${perShard.toFixed(1)} ms (${r.shardsPer.toFixed(0)})` : '—'} | ${f(r.processMs / 10 / r.units)} ms | ${worst <= 10 ? 'within' : 'over'} |\n`;
  }
  md += `\n(Load mode: per GET.) ${NOTE}\n<!-- bench:isolate:end -->\n`;
  writeSection('isolate', md);
  console.log(JSON.stringify(rows.map(({ name, e, sh, processMs, shardsPer }) => ({ name, entry: e, shards: sh, processMs, shardsPer })), null, 1));
} finally {
  upstream.server.closeAllConnections(); upstream.server.close();
  stop();
}
