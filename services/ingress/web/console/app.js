// The Switchyard console: tenants, keys, usage and live traffic over the ingress's own APIs
// (/console/api for reads, /admin/v1 for the admin's writes). Plain ES modules, no build step;
// charts by uPlot, served from node_modules by the ingress.
import uPlot from './uPlot.esm.js';
import { api, ApiCallError, qs, session } from './api.js';
import { h, int, table, usd } from './dom.js';

const POLL_MS = 5_000;
const app = document.getElementById('app');
const loginForm = document.getElementById('login');
let timers = [];
let charts = [];

function clearView() {
  for (const t of timers) clearInterval(t);
  for (const c of charts) c.destroy();
  timers = [];
  charts = [];
}

function showLogin(message) {
  clearView();
  session.key = null;
  document.getElementById('whoami').textContent = '';
  document.getElementById('logout').hidden = true;
  document.getElementById('login-error').textContent = message ?? '';
  app.replaceChildren(loginForm);
}

async function start() {
  if (!session.key) return showLogin();
  let who;
  try {
    who = await api('GET', '/console/api/session');
  } catch (err) {
    return showLogin(err instanceof ApiCallError ? err.message : `Could not reach the server: ${err.message}`);
  }
  document.getElementById('logout').hidden = false;
  if (who.role === 'admin') {
    document.getElementById('whoami').textContent = 'admin: all tenants';
    return adminView();
  }
  document.getElementById('whoami').textContent = `tenant: ${who.tenant.name}`;
  app.replaceChildren(tenantPanel(who.tenant, { admin: false }));
}

// ---- admin: tenant list on the left, the selected tenant on the right ----

async function adminView(selectedId) {
  clearView();
  const list = h('ul');
  const detail = h('div', { 'data-testid': 'tenant-detail' }, h('p', { class: 'muted' }, 'Select a tenant.'));
  const error = h('p', { class: 'error' });
  const create = h(
    'form',
    {
      'data-testid': 'create-tenant',
      onsubmit: async (e) => {
        e.preventDefault();
        const name = e.target.elements.name.value;
        try {
          const t = await api('POST', '/admin/v1/tenants', { name });
          await adminView(t.id);
        } catch (err) {
          error.textContent = err.message;
        }
      },
    },
    h('input', { name: 'name', placeholder: 'new tenant name', required: true }),
    h('button', { type: 'submit' }, 'Create'),
  );
  app.replaceChildren(
    h('div', { class: 'layout' }, h('section', { class: 'tenants' }, h('h2', {}, 'Tenants'), create, error, list), detail),
  );

  const page = await api('GET', `/admin/v1/tenants${qs({ limit: 100 })}`);
  for (const t of page.data) {
    const button = h('button', { type: 'button', 'data-tenant-id': t.id, onclick: () => select(t, button) }, t.name);
    list.append(h('li', {}, button));
    if (t.id === selectedId) select(t, button);
  }
  if (page.has_more) list.append(h('li', { class: 'muted' }, 'Only the newest 100 tenants are listed.'));

  function select(tenant, button) {
    clearView();
    for (const b of list.querySelectorAll('button')) b.classList.toggle('selected', b === button);
    detail.replaceChildren(tenantPanel(tenant, { admin: true }));
  }
}

// ---- one tenant: settings, keys, usage, live traffic, batches ----

function tenantPanel(tenant, { admin }) {
  const q = admin ? { tenant_id: tenant.id } : {};
  const panel = h('div', { 'data-testid': 'tenant-panel' });
  const sections = {
    info: h('section', { 'data-testid': 'tenant-info' }),
    keys: h('section', { 'data-testid': 'keys' }),
    usage: h('section', { 'data-testid': 'usage' }),
    activity: h('section', { 'data-testid': 'activity' }),
    batches: h('section', { 'data-testid': 'batches' }),
  };
  panel.append(...Object.values(sections));
  renderInfo(sections.info, tenant, admin);
  void loadKeys(sections.keys, tenant, q, admin);
  void loadUsage(sections.usage, q);
  const activity = () => loadActivity(sections.activity, q);
  const batches = () => loadBatches(sections.batches, q);
  void activity();
  void batches();
  timers.push(setInterval(activity, POLL_MS), setInterval(batches, POLL_MS));
  return panel;
}

function renderInfo(section, tenant, admin) {
  const limits = tenant.limits ?? {};
  section.replaceChildren(
    h('h2', { 'data-testid': 'tenant-name' }, tenant.name),
    h('p', { class: 'muted' }, tenant.id),
    table(
      'tenant-settings',
      ['allowed models', 'rpm', 'tpm', 'max concurrency', 'budget'],
      [
        [
          tenant.allowed_models ? tenant.allowed_models.join(', ') : 'any',
          limits.rpm ?? '-',
          limits.tpm ?? '-',
          limits.max_concurrency ?? '-',
          tenant.budget ? `${usd(tenant.budget.usd)} per ${tenant.budget.period}` : '-',
        ],
      ],
    ),
  );
  if (!admin) return;
  const error = h('span', { class: 'error' });
  const num = (v) => (v === '' ? undefined : Number(v));
  section.append(
    h(
      'form',
      {
        class: 'row',
        'data-testid': 'tenant-limits',
        onsubmit: async (e) => {
          e.preventDefault();
          const f = e.target.elements;
          const next = { rpm: num(f.rpm.value), tpm: num(f.tpm.value), max_concurrency: num(f.max_concurrency.value) };
          const hasLimits = Object.values(next).some((v) => v !== undefined);
          const budget = f.budget.value === '' ? null : { usd: Number(f.budget.value), period: f.period.value };
          try {
            const updated = await api('PATCH', `/admin/v1/tenants/${encodeURIComponent(tenant.id)}`, {
              limits: hasLimits ? next : null,
              budget,
            });
            renderInfo(section, updated, admin);
          } catch (err) {
            error.textContent = err.message;
          }
        },
      },
      h('input', { name: 'rpm', type: 'number', min: 1, placeholder: 'rpm', value: limits.rpm ?? '' }),
      h('input', { name: 'tpm', type: 'number', min: 1, placeholder: 'tpm', value: limits.tpm ?? '' }),
      h('input', { name: 'max_concurrency', type: 'number', min: 1, placeholder: 'concurrency', value: limits.max_concurrency ?? '' }),
      h('input', { name: 'budget', type: 'number', min: 0, step: 'any', placeholder: 'budget USD', value: tenant.budget?.usd ?? '' }),
      h(
        'select',
        { name: 'period' },
        ['day', 'month'].map((p) => h('option', { value: p, selected: tenant.budget?.period === p }, p)),
      ),
      h('button', { type: 'submit' }, 'Save limits and budget'),
      error,
    ),
  );
}

async function loadKeys(section, tenant, q, admin) {
  const error = h('p', { class: 'error' });
  const secret = h('div', { 'data-testid': 'new-key' });
  let keys;
  try {
    keys = await api('GET', `/console/api/keys${qs(q)}`);
  } catch (err) {
    section.replaceChildren(h('h2', {}, 'API keys'), h('p', { class: 'error' }, err.message));
    return;
  }
  const rows = keys.data.map((k) => [
    k.name ?? '',
    k.prefix,
    h('span', { 'data-testid': 'key-status' }, k.status),
    k.limits?.rpm ?? '-',
    k.created_at.slice(0, 19).replace('T', ' '),
    admin && k.status === 'active'
      ? h(
          'button',
          {
            type: 'button',
            'data-testid': 'revoke',
            onclick: async () => {
              try {
                await api('DELETE', `/admin/v1/keys/${encodeURIComponent(k.id)}`);
                await loadKeys(section, tenant, q, admin);
              } catch (err) {
                error.textContent = err.message;
              }
            },
          },
          'Revoke',
        )
      : '',
  ]);
  const t = table('keys-table', ['name', 'prefix', 'status', 'rpm', 'created (UTC)', ''], rows);
  keys.data.forEach((k, i) => t.tBodies[0].rows[i]?.setAttribute('data-key-id', k.id));
  section.replaceChildren(h('h2', {}, 'API keys'), t, error, secret);
  if (!admin) return;
  section.append(
    h(
      'form',
      {
        class: 'row',
        'data-testid': 'create-key',
        onsubmit: async (e) => {
          e.preventDefault();
          const f = e.target.elements;
          const body = { name: f.name.value || null };
          if (f.rpm.value) body.limits = { rpm: Number(f.rpm.value) };
          try {
            const created = await api('POST', `/admin/v1/tenants/${encodeURIComponent(tenant.id)}/keys`, body);
            await loadKeys(section, tenant, q, admin);
            section
              .querySelector('[data-testid="new-key"]')
              .replaceChildren(
                h(
                  'p',
                  {},
                  'Copy the new key now; it is not shown again: ',
                  h('span', { class: 'secret', 'data-testid': 'new-key-secret' }, created.key),
                ),
              );
          } catch (err) {
            error.textContent = err.message;
          }
        },
      },
      h('input', { name: 'name', placeholder: 'key name' }),
      h('input', { name: 'rpm', type: 'number', min: 1, placeholder: 'rpm limit' }),
      h('button', { type: 'submit' }, 'Create key'),
    ),
  );
}

async function loadUsage(section, q, days = 30) {
  const to = new Date();
  const from = new Date(to.getTime() - days * 86_400_000);
  const range = { ...q, from: from.toISOString(), to: to.toISOString() };
  let byDay, byModel, byKey, keys;
  try {
    [byDay, byModel, byKey, keys] = await Promise.all([
      ...['day', 'model', 'key'].map((group_by) => api('GET', `/console/api/usage${qs({ ...range, group_by })}`)),
      api('GET', `/console/api/keys${qs(q)}`),
    ]);
  } catch (err) {
    section.replaceChildren(h('h2', {}, 'Usage'), h('p', { class: 'error' }, err.message));
    return;
  }
  const total = byDay.data.reduce((a, r) => ({ requests: a.requests + r.requests, cost: a.cost + r.cost_usd }), { requests: 0, cost: 0 });
  const chart = h('div', { 'data-testid': 'usage-chart' });
  const columns = ['requests', 'input tokens', 'output tokens', 'cost'];
  const cells = (r) => [int(r.requests), int(r.input_tokens), int(r.output_tokens), usd(r.cost_usd)];
  section.replaceChildren(
    h(
      'h2',
      {},
      `Usage, last ${days} days: `,
      h('span', { 'data-testid': 'usage-total-requests' }, int(total.requests)),
      ' requests, ',
      h('span', { 'data-testid': 'usage-total-cost' }, usd(total.cost)),
      ' ',
      h('button', { type: 'button', onclick: () => loadUsage(section, q, days) }, 'Refresh'),
    ),
    chart,
    h('h3', {}, 'By model'),
    table(
      'usage-by-model',
      ['model', ...columns],
      byModel.data.map((r) => [r.model, ...cells(r)]),
    ),
    h('h3', {}, 'By key'),
    table(
      'usage-by-key',
      ['key', ...columns],
      byKey.data.map((r) => [keyLabel(keys.data, r.key_id), ...cells(r)]),
    ),
    h('h3', {}, 'By day'),
    table(
      'usage-by-day',
      ['day (UTC)', ...columns],
      byDay.data.map((r) => [r.day, ...cells(r)]),
    ),
  );
  if (byDay.data.length === 0) return chart.append(h('p', { class: 'muted' }, 'No usage in this period.'));
  const x = byDay.data.map((r) => Date.parse(`${r.day}T00:00:00Z`) / 1000);
  charts.push(
    new uPlot(
      {
        width: 640,
        height: 220,
        // The whole period, so one busy day does not stretch across the axis.
        scales: { x: { time: true, range: [from.getTime() / 1000, to.getTime() / 1000] }, usd: { auto: true } },
        series: [
          {},
          { label: 'requests', stroke: '#1565c0', fill: 'rgba(21,101,192,0.25)', paths: uPlot.paths.bars({ size: [0.6, 40] }) },
          { label: 'cost (USD)', stroke: '#2e7d32', scale: 'usd', points: { show: true, size: 6 } },
        ],
        axes: [
          {},
          { label: 'requests' },
          {
            side: 1,
            scale: 'usd',
            label: 'USD',
            grid: { show: false },
            size: 90,
            values: (_u, ticks) => ticks.map((v) => `$${v.toPrecision(2)}`),
          },
        ],
      },
      [x, byDay.data.map((r) => r.requests), byDay.data.map((r) => r.cost_usd)],
      chart,
    ),
  );
}

/** `name (prefix)` of a key in the list, else its id (a key beyond the newest 100). */
function keyLabel(keys, id) {
  if (id === null) return '(no key)';
  const k = keys.find((x) => x.id === id);
  return k ? `${k.name ?? 'unnamed'} (${k.prefix})` : id;
}

async function loadActivity(section, q) {
  let res;
  try {
    res = await api('GET', `/console/api/activity${qs({ ...q, minutes: 15 })}`);
  } catch (err) {
    section.replaceChildren(h('h2', {}, 'Live traffic'), h('p', { class: 'error' }, err.message));
    return;
  }
  // Every minute of the window, zero where nothing ended.
  const byMinute = new Map(res.data.map((r) => [Date.parse(r.minute) / 1000, r]));
  const now = Math.floor(Date.now() / 60_000) * 60;
  const x = [];
  for (let t = now - (res.minutes - 1) * 60; t <= now; t += 60) x.push(t);
  const requests = x.map((t) => byMinute.get(t)?.requests ?? 0);
  const errors = x.map((t) => byMinute.get(t)?.errors ?? 0);
  const sum = (a) => a.reduce((s, v) => s + v, 0);
  const chart = h('div', { 'data-testid': 'activity-chart' });
  section.replaceChildren(
    h(
      'h2',
      {},
      `Live traffic, last ${res.minutes} minutes: `,
      h('span', { 'data-testid': 'activity-requests' }, int(sum(requests))),
      ' requests, ',
      h('span', { 'data-testid': 'activity-errors' }, int(sum(errors))),
      ' errors',
    ),
    chart,
  );
  const old = charts.findIndex((c) => c.root.dataset.kind === 'activity');
  if (old >= 0) charts.splice(old, 1)[0].destroy();
  const plot = new uPlot(
    {
      width: 640,
      height: 160,
      series: [{}, { label: 'requests/min', stroke: '#1565c0' }, { label: 'errors/min', stroke: '#c62828' }],
    },
    [x, requests, errors],
    chart,
  );
  plot.root.dataset.kind = 'activity';
  charts.push(plot);
}

async function loadBatches(section, q) {
  let res;
  try {
    res = await api('GET', `/console/api/batches${qs(q)}`);
  } catch (err) {
    section.replaceChildren(h('h2', {}, 'Batches'), h('p', { class: 'error' }, err.message));
    return;
  }
  const rows = res.data.map((b) => {
    const c = b.request_counts;
    const done = c.completed + c.failed;
    return [
      b.id,
      b.status,
      h('progress', { max: Math.max(c.total, 1), value: done }),
      `${int(done)} / ${int(c.total)}`,
      int(c.failed),
      new Date(b.created_at * 1000).toISOString().slice(0, 19).replace('T', ' '),
    ];
  });
  section.replaceChildren(
    h('h2', {}, 'Batches'),
    table('batches-table', ['batch', 'status', 'progress', 'done', 'failed', 'created (UTC)'], rows),
  );
}

loginForm.addEventListener('submit', (e) => {
  e.preventDefault();
  session.key = document.getElementById('key').value.trim();
  document.getElementById('key').value = '';
  void start();
});
document.getElementById('logout').addEventListener('click', () => showLogin());
void start();
