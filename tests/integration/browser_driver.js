// Drives headless Chromium over the DevTools protocol (Node's built-in WebSocket; no npm
// package): opens one page, and reports what the page shows while it lives.
//
//   node --experimental-websocket browser_driver.js --chromium PATH --home DIR --url URL
//        [--ready-when JS] [--wait-for JS] [--watch JS] [--timeout SECONDS]
//        [--eval JS] [--screenshot FILE] [--dom FILE] [--size 1400,1100]
//
// --ready-when: prints "READY" once the expression is truthy (the caller may then act);
// --wait-for: then waits until it is truthy (exit 1 at --timeout, printing the last --watch);
// --watch: an expression whose every new value is printed as "WATCH <json>";
// --eval: printed as "EVAL <json>" at the end; --screenshot and --dom save the page.
// Chromium runs with HOME=DIR (its NSS database: certificates) and DIR/profile.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');

function parseArgs(argv) {
  const out = { timeout: 60, size: '1400,1100' };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (argv[i + 1] === undefined) throw new Error('missing value for ' + argv[i]);
    out[key] = argv[i + 1];
  }
  for (const k of ['chromium', 'home', 'url'])
    if (!out[k]) throw new Error('--' + k + ' is required');
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let chrome = null;  // killed on every way out

async function main() {
  const args = parseArgs(process.argv);
  const [width, height] = args.size.split(',');
  chrome = spawn(args.chromium, [
    '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--remote-debugging-port=0',
    '--user-data-dir=' + args.home + '/profile', '--window-size=' + width + ',' + height, 'about:blank',
  ], { env: { ...process.env, HOME: args.home }, stdio: ['ignore', 'ignore', 'pipe'] });
  const log = fs.createWriteStream(args.home + '/chromium.log', { flags: 'a' });
  const endpoint = await new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('chromium did not open its DevTools endpoint')), 30000);
    chrome.stderr.on('data', (d) => {
      log.write(d);
      text += d;
      const m = text.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    chrome.on('exit', (code) => reject(new Error('chromium exited (' + code + ') before DevTools was up')));
  });

  const ws = new WebSocket(endpoint);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('DevTools connect failed')); });
  let nextId = 1;
  const pending = new Map();
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(msg.error.message)); else resolve(msg.result);
    } else if (['Runtime.exceptionThrown', 'Runtime.consoleAPICalled', 'Log.entryAdded'].includes(msg.method)) {
      console.error('page: ' + msg.method + ' ' + JSON.stringify(msg.params).slice(0, 600));  // the page's own errors
    }
  };
  const send = (method, params = {}, sessionId) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
  });

  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  const page = (method, params) => send(method, params, sessionId);
  const evaluate = async (expression) => {
    const r = await page('Runtime.evaluate', { expression, returnByValue: true });
    if (r.exceptionDetails) return undefined;  // e.g. the element is not there yet
    return r.result.value;
  };
  await page('Page.enable');
  await page('Runtime.enable');
  await page('Log.enable');
  await page('Page.navigate', { url: args.url });

  const deadline = Date.now() + Number(args.timeout) * 1000;
  let lastWatch;
  const watch = async () => {
    if (!args.watch) return;
    const v = JSON.stringify(await evaluate(args.watch));
    if (v !== lastWatch) { console.log('WATCH ' + v); lastWatch = v; }
  };
  const until = async (expression) => {
    for (;;) {
      await watch();
      if (await evaluate(expression)) return true;
      if (Date.now() > deadline) return false;
      await sleep(200);
    }
  };
  let ok = true;
  if (args.readyWhen) {
    ok = await until(args.readyWhen);
    if (ok) console.log('READY');
  }
  if (ok && args.waitFor) ok = await until(args.waitFor);
  await watch();
  if (args.eval) console.log('EVAL ' + JSON.stringify(await evaluate(args.eval)));
  if (args.screenshot) {
    const shot = await page('Page.captureScreenshot', { format: 'png' });
    fs.writeFileSync(args.screenshot, Buffer.from(shot.data, 'base64'));
  }
  if (args.dom) fs.writeFileSync(args.dom, await evaluate('document.documentElement.outerHTML') || '');
  if (!ok) console.log('TIMEOUT after ' + args.timeout + ' s');
  ws.close();
  chrome.kill('SIGTERM');
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.error('browser_driver: ' + e.message);
  if (chrome) chrome.kill('SIGTERM');
  process.exit(2);
});
