#!/usr/bin/env node
// Headless-Chromium test of goro's trace viewer (tools/trace-viewer/index.html).
//
//   node tests/viewer/viewer_test.mjs --viewer tools/trace-viewer/index.html \
//        [--trace FILE] [--screenshot OUT.png]
//
// Opens the viewer from disk (file://), loads the trace through the page's
// file input, and checks what it shows against expectations computed from
// the trace JSON itself. Without --trace it generates a synthetic trace
// (make_trace.mjs) into a temporary file. Prints one line per check and a
// closing "N passed, N failed"; exits 1 on any failure, 2 on a usage or
// setup error. Chromium: $CHROMIUM or /usr/bin/chromium.
//
// Lane rule (the page documents the same): every tid named by thread_name
// metadata is a lane, plus any unnamed tid with X, i/I, s or f events
// (named "tid N"); ordered by thread_sort_index (else the tid), then tid.

import { readFileSync, writeFileSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (err) {
  console.error(`cannot load playwright-core (${err.message}); install it with: (cd tests/viewer && npm ci)`);
  process.exit(2);
}

const here = dirname(fileURLToPath(import.meta.url));

function usage(msg) {
  if (msg) console.error(msg);
  console.error('usage: node viewer_test.mjs --viewer tools/trace-viewer/index.html [--trace FILE] [--screenshot OUT.png]');
  process.exit(2);
}
const opt = { viewer: resolve(here, '../../tools/trace-viewer/index.html') };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--viewer') opt.viewer = resolve(val());
    else if (a === '--trace') opt.trace = resolve(val());
    else if (a === '--screenshot') opt.screenshot = resolve(val());
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
}
if (!existsSync(opt.viewer)) usage(`no viewer at ${opt.viewer}`);

let tmp = null;
if (!opt.trace) {
  const { makeTrace, traceToText } = await import('./make_trace.mjs');
  tmp = mkdtempSync(join(tmpdir(), 'goro-viewer-'));
  opt.trace = join(tmp, 'synthetic-trace.json');
  writeFileSync(opt.trace, traceToText(makeTrace({ procs: 4, fibers: 300, runs: 5, seed: 7 })));
  console.log(`# no --trace: generated ${opt.trace}`);
}

// ------------------------------------------------------------ expectations
function tidOf(e) {
  const t = e.tid;
  if (typeof t === 'number') return t;
  if (t === undefined || t === null) return 0;
  const n = Number(t);
  return Number.isFinite(n) ? n : String(t);
}
function expectations(root) {
  const events = Array.isArray(root) ? root : root.traceEvents;
  if (!Array.isArray(events)) throw new Error('the trace has no traceEvents array');
  const names = new Map(), sortIdx = new Map(), withEvents = new Set();
  const fiberSlices = [], fibers = new Map(), running = new Map(), blockingByP = new Map();
  const runIv = new Map(), blockIv = new Map();   // tid / P number -> [[start, end]]
  const push = (m, k, iv) => { if (!m.has(k)) m.set(k, []); m.get(k).push(iv); };
  let tmin = Infinity, tmax = -Infinity;
  const flowS = new Map(), flowF = new Map();
  let nX = 0, nInst = 0;
  for (const e of events) {
    if (!e || typeof e !== 'object') continue;
    if (e.ph === 'M') {
      if (e.name === 'thread_name') names.set(tidOf(e), String(e.args?.name ?? ''));
      if (e.name === 'thread_sort_index' && Number.isFinite(Number(e.args?.sort_index))) sortIdx.set(tidOf(e), Number(e.args.sort_index));
      continue;
    }
    if (!Number.isFinite(Number(e.ts))) continue;
    const dur = Number(e.dur) > 0 ? Number(e.dur) : 0;
    if (['X', 'i', 'I', 's', 'f', 'C'].includes(e.ph)) {
      tmin = Math.min(tmin, Number(e.ts));
      tmax = Math.max(tmax, Number(e.ts) + (e.ph === 'X' ? dur : 0));
    }
    if (e.ph === 'X') {
      nX++;
      withEvents.add(tidOf(e));
      const a = e.args || {};
      if (e.cat === 'fiber') {
        fiberSlices.push({ site: String(a.site ?? e.name ?? ''), g: a.g, name: e.name, tid: tidOf(e) });
        running.set(tidOf(e), (running.get(tidOf(e)) || 0) + dur);
        push(runIv, tidOf(e), [Number(e.ts), Number(e.ts) + dur]);
        const g = String(a.g ?? e.name);
        const f = fibers.get(g) || { g, total: 0, runs: 0 };
        f.total += dur; f.runs++;
        fibers.set(g, f);
      } else if (e.cat === 'blocking') {
        blockingByP.set(Number(a.p), (blockingByP.get(Number(a.p)) || 0) + dur);
        push(blockIv, Number(a.p), [Number(e.ts), Number(e.ts) + dur]);
      }
    } else if (e.ph === 'i' || e.ph === 'I') {
      nInst++;
      withEvents.add(tidOf(e));
    } else if (e.ph === 's' || e.ph === 'f') {
      withEvents.add(tidOf(e));
      const m = e.ph === 's' ? flowS : flowF;
      const id = String(e.id);
      m.set(id, (m.get(id) || 0) + 1);
    }
  }
  let flows = 0;
  for (const [id, n] of flowS) flows += Math.min(n, flowF.get(id) || 0);
  const tids = new Set([...names.keys(), ...withEvents]);
  const key = (t) => sortIdx.has(t) ? sortIdx.get(t) : (typeof t === 'number' ? t : Infinity);
  const cmpTid = (a, b) => (typeof a === 'number' && typeof b === 'number') ? a - b
    : typeof a === 'number' ? -1 : typeof b === 'number' ? 1 : String(a).localeCompare(String(b));
  const laneTids = [...tids].sort((a, b) => (key(a) - key(b)) || cmpTid(a, b));
  const laneName = (t) => names.has(t) ? names.get(t) : `tid ${t}`;
  const lanes = laneTids.map(laneName);
  const pLanes = laneTids.filter((t) => /^P \d+$/.test(laneName(t))).map((t) => {
    const name = laneName(t), p = Number(name.slice(2));
    // Idle: the span less the union of the P's runs and its blocking calls.
    const iv = [...(runIv.get(t) || []), ...(blockIv.get(p) || [])].sort((x, y) => x[0] - y[0]);
    let busy = 0, lo = -Infinity, hi = -Infinity;
    for (const [x, y] of iv) {
      if (x > hi) { if (hi > lo) busy += hi - lo; lo = x; hi = y; } else if (y > hi) hi = y;
    }
    if (hi > lo) busy += hi - lo;
    const span = tmax >= tmin ? tmax - tmin : 0;
    return { name, running: running.get(t) || 0, blocking: blockingByP.get(p) || 0, idle: Math.max(0, span - busy) };
  });
  const top = [...fibers.values()].sort((a, b) => b.total - a.total)[0] || null;
  return { lanes, nX, nFiber: fiberSlices.length, nInst, flows, pLanes, fiberSlices, top,
    other: Array.isArray(root) ? null : (root.otherData || null) };
}

// ------------------------------------------------------------ checks
let passed = 0, failed = 0;
function check(ok, what, detail = '') {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'}  ${what}${detail ? ' — ' + detail : ''}`);
}
const near = (a, b) => Math.abs(a - b) <= 1e-6 + 1e-9 * Math.abs(b);

let exp;
try {
  exp = expectations(JSON.parse(readFileSync(opt.trace, 'utf8')));
} catch (err) {
  console.log(`FAIL  read the trace ${opt.trace} — ${String(err.message).slice(0, 200)}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const consoleErrors = [];
let browser;
const watchdog = setTimeout(() => {
  console.log('FAIL  the test did not finish within 180 s');
  process.exit(1);
}, 180_000);

try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
    headless: true,
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (err) => consoleErrors.push(String(err)));
  await page.goto(pathToFileURL(opt.viewer).href);
  await page.waitForFunction(() => !!window.goroViewer, null, { timeout: 10_000 });

  await page.setInputFiles('input[type=file]', opt.trace);
  await page.waitForFunction(() => window.goroViewer.state().loads >= 1 ||
    document.getElementById('status').classList.contains('err'), null, { timeout: 90_000 });
  const st = await page.evaluate(() => window.goroViewer.state());
  const status = await page.textContent('#status');
  check(st.loaded === true, 'trace loads through the file input', status.trim());
  if (!st.loaded) throw new Error('not loaded');

  check(st.lanes.length === exp.lanes.length, 'lane count', `${st.lanes.length} shown, ${exp.lanes.length} named or used tids in the trace`);
  check(JSON.stringify(st.lanes) === JSON.stringify(exp.lanes), 'lane names and order',
    st.lanes.join(', ') + (JSON.stringify(st.lanes) === JSON.stringify(exp.lanes) ? '' : ` (expected ${exp.lanes.join(', ')})`));
  check(st.slices === exp.nX, 'slice count', `${st.slices} drawn, ${exp.nX} X events`);
  check(st.fiberSlices === exp.nFiber, 'fiber slice count', `${st.fiberSlices} drawn, ${exp.nFiber} in the trace`);
  check(st.instants === exp.nInst, 'instant count', `${st.instants} drawn, ${exp.nInst} in the trace`);
  check(st.flows === exp.flows, 'flow arrow count', `${st.flows} drawn, ${exp.flows} s/f pairs in the trace`);

  // Summary: every P lane, with its running and blocking time.
  const rows = await page.$$eval('#summary tr[data-lane]', (trs) => trs.map((tr) => ({
    lane: tr.dataset.lane, running: Number(tr.dataset.runningUs), blocking: Number(tr.dataset.blockingUs),
    idle: Number(tr.dataset.idleUs),
  })));
  const missing = exp.pLanes.filter((p) => !rows.some((r) => r.lane === p.name)).map((p) => p.name);
  check(exp.pLanes.length > 0 && missing.length === 0, 'summary lists every P lane',
    missing.length ? `missing ${missing.join(', ')}` : `${exp.pLanes.length} P lanes`);
  const wrong = exp.pLanes.filter((p) => {
    const r = rows.find((x) => x.lane === p.name);
    return !r || !near(r.running, p.running) || !near(r.blocking, p.blocking) || !near(r.idle, p.idle);
  }).map((p) => p.name);
  check(wrong.length === 0, 'summary running, blocking and idle time per P',
    wrong.length ? `differs for ${wrong.join(', ')}` : 'sums match the trace');
  if (exp.top) {
    const first = await page.$eval('#ftable tr[data-g]', (tr) => ({ g: tr.dataset.g, total: Number(tr.dataset.totalUs) })).catch(() => null);
    check(!!first && near(first.total, exp.top.total), 'summary top fiber',
      first ? `G${first.g} ran ${first.total.toFixed(3)} µs (expected ${exp.top.total.toFixed(3)} µs, G${exp.top.g})` : 'no fiber table');
  }
  if (exp.other) {
    const info = await page.$eval('#info', (d) => ({ ...d.dataset, text: d.textContent }));
    const ok = ['procs', 'mode', 'dropped'].every((k) => exp.other[k] === undefined || info[k] === String(exp.other[k]));
    check(ok, 'summary shows otherData', `procs ${info.procs}, mode ${info.mode}, dropped ${info.dropped}`);
  }

  if (opt.screenshot) {
    await page.evaluate(() => { window.goroViewer.fit(); window.scrollTo(0, 0); });
    await page.waitForTimeout(100);
    await page.screenshot({ path: opt.screenshot, fullPage: true });
    console.log(`# screenshot: ${opt.screenshot}`);
  }

  // Zoom: the wheel over the plot zooms in, the reset button shows it all again.
  {
    const box = await page.locator('#lanes').boundingBox();
    const before = await page.evaluate(() => window.goroViewer.state().view);
    await page.mouse.move(box.x + box.width * 0.6, box.y + Math.min(20, box.height / 2));
    await page.mouse.wheel(0, -400);
    await page.waitForFunction((b) => window.goroViewer.state().view.t1 - window.goroViewer.state().view.t0 < (b.t1 - b.t0) * 0.9,
      before, { timeout: 3000 }).catch(() => {});
    const zoomed = await page.evaluate(() => window.goroViewer.state().view);
    await page.click('#reset');
    const after = await page.evaluate(() => window.goroViewer.state().view);
    check(zoomed.t1 - zoomed.t0 < (before.t1 - before.t0) * 0.9 && near(after.t0, before.t0) && near(after.t1, before.t1),
      'wheel zooms in, reset zoom restores the whole trace',
      `span ${(before.t1 - before.t0).toFixed(3)} → ${(zoomed.t1 - zoomed.t0).toFixed(3)} → ${(after.t1 - after.t0).toFixed(3)} µs`);
  }

  // Hover: fiber slices from as many different sites as there are (5 at most).
  const picks = [];
  const seen = new Set();
  exp.fiberSlices.forEach((f, i) => { if (picks.length < 5 && !seen.has(f.site)) { seen.add(f.site); picks.push(i); } });
  for (const i of [0, exp.fiberSlices.length >> 1, exp.fiberSlices.length - 1]) {
    if (picks.length < 3 && i >= 0 && !picks.includes(i)) picks.push(i);
  }
  let hovered = 0;
  for (const i of picks) {
    const f = exp.fiberSlices[i];
    const pt = await page.evaluate((n) => window.goroViewer.slicePoint(n), i);
    if (!pt) { check(false, `hover fiber slice #${i}`, 'slicePoint returned null'); continue; }
    // Start outside the timeline so each hover is a fresh one.
    await page.mouse.move(1, 1);
    await page.mouse.move(pt.x, pt.y);
    const ok = await page.waitForFunction((site) => {
      const t = document.getElementById('tooltip');
      return !!t && getComputedStyle(t).display !== 'none' && t.textContent.includes(site);
    }, f.site, { timeout: 3000 }).then(() => true, () => false);
    const text = await page.evaluate(() => {
      const t = document.getElementById('tooltip');
      return t && getComputedStyle(t).display !== 'none' ? t.textContent : '(no tooltip)';
    });
    const pixel = await page.evaluate(({ x, y }) => {
      const c = document.getElementById('lanes'), r = c.getBoundingClientRect(), k = c.width / r.width;
      return [...c.getContext('2d').getImageData(Math.floor((x - r.left) * k), Math.floor((y - r.top) * k), 1, 1).data];
    }, pt);
    const painted = !(pixel[0] >= 247 && pixel[1] >= 248 && pixel[2] >= 250);
    if (ok) hovered++;
    check(ok && painted, `hover fiber slice #${i} (${f.name}) shows its site`,
      ok ? `"${f.site}" at (${pt.x.toFixed(0)}, ${pt.y.toFixed(0)})${painted ? '' : ', but nothing is painted there'}`
        : `tooltip: ${text.slice(0, 160)}`);
  }
  check(hovered >= 3, 'at least 3 different fiber slices hovered', `${hovered} of ${picks.length}`);

  await page.mouse.move(1, 1);
  check(consoleErrors.length === 0, 'no console errors', consoleErrors.slice(0, 3).join(' | '));
} catch (err) {
  check(false, 'test ran to the end', String(err && err.stack || err).split('\n').slice(0, 3).join(' '));
} finally {
  if (browser) await browser.close().catch(() => {});
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  clearTimeout(watchdog);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
