// edgefleet dashboard: polls /api/overview and renders it. Every value from the controller is
// put into the page as a text node (never as HTML), so names, labels and details that devices
// or operators chose are shown, not interpreted.
'use strict';

const POLL_MS = 2000;
const STALE_AFTER_MS = 10000;
let lastOk = 0;
let lastData = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-')) node.setAttribute(k, String(v));
    else if (k === 'title') node.title = String(v);
    else if (k === 'style') Object.assign(node.style, v);  // CSSOM: allowed by the page's CSP
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const num = (v) => Number(v || 0);

function ago(unix, now) {
  const t = num(unix);
  if (!t) return 'never';
  const s = Math.max(0, num(now) - t);
  if (s < 60) return s + 's ago';
  if (s < 3600) return Math.floor(s / 60) + 'm ago';
  if (s < 86400) return Math.floor(s / 3600) + 'h ago';
  return Math.floor(s / 86400) + 'd ago';
}

function when(unix) {
  const t = num(unix);
  return t ? new Date(t * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
}

function bytes(n) {
  n = num(n);
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + units[i];
}

function pill(text, kind) { return el('span', { class: 'pill ' + (kind || '') }, text); }

function fill(tableId, rows, columns) {
  const body = document.querySelector('#' + tableId + ' tbody');
  const fresh = document.createElement('tbody');
  if (rows.length === 0) fresh.append(el('tr', {}, el('td', { class: 'empty', 'data-empty': 'true' }, 'none')));
  for (const r of rows) fresh.append(r);
  body.replaceWith(fresh);
  if (columns) fresh.dataset.columns = columns;
}

const ROLLOUT_KIND = { running: 'warn', paused: 'warn', completed: 'ok', aborted: 'bad', reverting: 'bad', reverted: 'bad' };
const MODEL_KIND = { running: 'ok', committed: 'ok', failed: 'bad', rolled_back: 'bad', abandoned: 'bad' };

function deviceConverged(d) {
  const models = d.models || [];
  return models.length > 0 && models.every((m) => !m.desired_version || m.reported_version === m.desired_version);
}

function renderCards(o) {
  const devices = o.devices || [];
  const online = devices.filter((x) => x.device.online).length;
  const converged = devices.filter((x) => deviceConverged(x.device)).length;
  const active = (o.rollouts || []).filter((r) => r.state === 'running' || r.state === 'paused' || r.state === 'reverting').length;
  const cards = [
    ['sites', (o.sites || []).length, 'sites'],
    ['devices', num(o.devices_total), 'devices'],
    ['online', online + ' / ' + devices.length, 'online'],
    ['converged', converged + ' / ' + devices.length, 'on their desired versions'],
    ['rollouts', active, 'rollouts in progress'],
    ['models', (o.models || []).length, 'model versions'],
  ];
  const box = document.getElementById('cards');
  box.replaceChildren(...cards.map(([id, n, label]) =>
    el('div', { class: 'card', 'data-card': id }, el('div', { class: 'n' }, n), el('div', { class: 'l' }, label))));
}

function rolloutTarget(t) {
  if (!t) return '';
  const parts = [];
  if ((t.sites || []).length) parts.push('sites ' + t.sites.join(','));
  if (t.selector) parts.push('-l ' + t.selector);
  if ((t.devices || []).length) parts.push('devices ' + t.devices.join(','));
  return parts.join(' ');
}

function renderRollouts(o) {
  fill('rollouts', (o.rollouts || []).map((r) => {
    const counts = r.counts || {};
    const total = num(r.devices_total);
    const done = num(counts.updated);
    const failed = num(counts.failed) + num(counts.timed_out) + num(counts.revert_failed);
    const pct = (n) => (total ? (100 * n) / total : 0).toFixed(1) + '%';
    const bar = el('span', { class: 'bar', title: done + ' of ' + total + ' updated' },
      el('i', { style: { width: pct(done) } }),
      el('b', { style: { left: pct(done), width: pct(failed) } }));
    return el('tr', { 'data-rollout': r.id, 'data-state': r.state, 'data-updated': done, 'data-total': total },
      el('td', {}, r.id),
      el('td', { class: 'mono' }, r.model + ':' + r.version),
      el('td', {}, rolloutTarget(r.target)),
      el('td', {}, pill(r.state, ROLLOUT_KIND[r.state]), r.reason ? el('div', { class: 'note' }, r.reason) : null),
      el('td', {}, num(r.wave_count) ? (num(r.wave) + 1) + ' / ' + num(r.wave_count) : ''),
      el('td', {}, bar, ' ', done + ' / ' + total),
      el('td', {}, failed),
      el('td', {}, num(counts.skipped)),
      el('td', { title: when(r.updated_at) }, ago(r.updated_at, o.now)));
  }));
}

function healthCell(h, now) {
  if (!h) return el('span', { class: 'note' }, 'no report');
  const parts = [];
  for (const m of h.models || []) {
    const errors = num(m.errors), inferences = num(m.inferences);
    const kind = errors > 0 ? 'warn' : 'ok';
    parts.push(el('div', {},
      pill(m.model + ' ' + (m.state || ''), kind), ' ',
      el('span', { class: 'note' }, 'p50 ' + (num(m.p50_us) / 1000).toFixed(2) + ' ms, ' + errors + ' err / ' + inferences)));
  }
  parts.push(el('div', { class: 'note' }, 'cpu ' + num(h.cpu_percent).toFixed(0) + '%, rss ' + bytes(h.rss_bytes) + ', ' + ago(h.received_at, now)));
  return el('div', {}, ...parts);
}

function renderDevices(o) {
  const site = document.getElementById('site-filter').value;
  const text = document.getElementById('text-filter').value.trim().toLowerCase();
  const rows = [];
  for (const entry of o.devices || []) {
    const d = entry.device;
    const labels = Object.entries(d.labels || {}).map(([k, v]) => k + '=' + v);
    const models = d.models || [];
    const haystack = [d.id, d.site, ...labels, ...models.map((m) => m.model + ' ' + m.reported_version + ' ' + m.desired_version + ' ' + m.state)].join(' ').toLowerCase();
    if (site && d.site !== site) continue;
    if (text && !haystack.includes(text)) continue;
    const converged = deviceConverged(d);
    rows.push(el('tr', { 'data-device': d.id, 'data-online': d.online, 'data-converged': converged },
      el('td', { class: 'mono' }, d.id),
      el('td', {}, d.site),
      el('td', {}, d.online ? pill('online', 'ok') : pill('offline', 'bad')),
      el('td', { class: 'mono' }, ...models.map((m) => el('div', {}, m.model + ': ' + (m.reported_version || '–') + ' → ' + (m.desired_version || '–')))),
      el('td', {}, ...models.map((m) => {
        const progress = num(m.bytes_total) > 0 && num(m.bytes_done) < num(m.bytes_total) ? ' ' + bytes(m.bytes_done) + ' / ' + bytes(m.bytes_total) : '';
        return el('div', { title: m.detail || '' }, pill((m.state || 'unknown') + progress, MODEL_KIND[m.state]));
      })),
      el('td', {}, healthCell(entry.health, o.now)),
      el('td', { title: when(d.last_seen) }, ago(d.last_seen, o.now)),
      el('td', { class: 'mono' }, labels.join(', '))));
  }
  fill('devices', rows);
  const cut = document.getElementById('devices-cut');
  const shown = (o.devices || []).length;
  cut.hidden = num(o.devices_total) <= shown;
  cut.textContent = 'Showing the first ' + shown + ' of ' + num(o.devices_total) + ' devices; use edgectl get devices for all.';
}

function renderSiteFilter(o) {
  const select = document.getElementById('site-filter');
  const current = select.value;
  const names = (o.sites || []).map((s) => s.name);
  const have = Array.from(select.options).slice(1).map((x) => x.value);
  if (names.join('\n') === have.join('\n')) return;
  select.replaceChildren(el('option', {}, 'all'), ...names.map((n) => el('option', {}, n)));
  select.options[0].value = '';
  select.value = names.includes(current) ? current : '';
}

function renderSites(o) {
  fill('sites', (o.sites || []).map((s) => el('tr', { 'data-site': s.name },
    el('td', {}, s.name), el('td', {}, num(s.device_count)), el('td', {}, when(s.created_at)))));
}

function renderModels(o) {
  fill('models', (o.models || []).map((m) => el('tr', {},
    el('td', {}, m.model), el('td', { class: 'mono' }, m.version), el('td', {}, num(m.security_version)),
    el('td', {}, bytes(m.total_bytes)), el('td', {}, m.signed_by), el('td', { title: when(m.pushed_at) }, m.pushed_by + ', ' + ago(m.pushed_at, o.now)))));
}

function renderAudit(o) {
  fill('audit', (o.audit || []).map((a) => el('tr', { 'data-audit': a.id },
    el('td', {}, a.id), el('td', {}, when(a.at)), el('td', {}, a.actor),
    el('td', {}, a.result === 'ok' ? pill('ok', 'ok') : pill(a.result, 'bad')),
    el('td', { class: 'mono' }, a.action), el('td', { class: 'mono' }, a.target), el('td', {}, a.detail))));
}

function render(o) {
  document.getElementById('fleet').textContent = o.fleet;
  document.getElementById('who').textContent = 'operator ' + o.operator + ' (' + o.role + ')';
  document.getElementById('version').textContent = 'Controller ' + o.controller_version + '.';
  renderCards(o);
  renderRollouts(o);
  renderSiteFilter(o);
  renderDevices(o);
  renderSites(o);
  renderModels(o);
  renderAudit(o);
}

function setStatus(state, text) {
  const s = document.getElementById('status');
  s.dataset.state = state;
  s.textContent = text;
}

function showError(text) {
  const box = document.getElementById('error');
  box.hidden = !text;
  box.textContent = text || '';
}

async function poll() {
  try {
    const response = await fetch('/api/overview', { cache: 'no-store', credentials: 'same-origin' });
    const body = await response.text();
    if (!response.ok) throw new Error('the controller answered ' + response.status + ': ' + body.trim());
    lastData = JSON.parse(body);
    lastOk = Date.now();
    render(lastData);
    showError('');
    setStatus('live', 'live · ' + new Date(lastOk).toLocaleTimeString());
  } catch (e) {
    showError(String(e.message || e));
    setStatus(Date.now() - lastOk > STALE_AFTER_MS ? 'stale' : 'error', lastOk ? 'last update ' + new Date(lastOk).toLocaleTimeString() : 'no data');
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

document.getElementById('site-filter').addEventListener('change', () => lastData && renderDevices(lastData));
document.getElementById('text-filter').addEventListener('input', () => lastData && renderDevices(lastData));
poll();
