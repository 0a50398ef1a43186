/*
 * offerd console: one page, five views (#overview, #experiments,
 * #evaluations, #model, #decisions), all data from this offerd's REST API
 * with an admin key kept in sessionStorage. Charts are uPlot (pinned from
 * npm, served from /console/uplot/). Text from the server is always set as
 * textContent, never as HTML.
 *
 * For tests and the curious: window.offerdConsole.charts holds the uPlot
 * instance of each chart drawn, by name.
 */
'use strict';
(function () {
  const KEY = 'offerd.console.key';
  const POLICIES = ['epsilon-greedy', 'thompson', 'ucb', 'squarecb', 'linear-ts', 'weighted', 'random'];
  const PALETTE = ['#2563eb', '#ea580c', '#16a34a', '#9333ea', '#dc2626', '#0891b2', '#ca8a04', '#db2777'];
  const state = { key: null, company: null, charts: {}, timer: null, page: null, evalPoll: null, renders: 0 };
  window.offerdConsole = state;

  function $(sel) { return document.querySelector(sel); }

  /* el('td', {class: 'num'}, 'text', childNode...): an element with text children. */
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids.flat()) {
      if (k === null || k === undefined) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }

  function pct(x) { return x === null || x === undefined ? '—' : (100 * x).toFixed(1) + '%'; }
  function num(x, d) { return x === null || x === undefined ? '—' : Number(x).toFixed(d === undefined ? 3 : d); }
  function int(x) { return x === null || x === undefined ? '—' : Math.round(x).toLocaleString('en'); }

  async function api(method, path, body) {
    const opt = { method, headers: { Authorization: 'Bearer ' + state.key } };
    if (body !== undefined) {
      opt.headers['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, opt);
    } catch (e) {
      return { status: 0, ok: false, data: { message: 'offerd did not answer: ' + e.message } };
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    return { status: res.status, ok: res.ok, data };
  }

  function errorText(r, what) {
    const m = r.data && (r.data.message || (r.data.error && r.data.error.message));
    return what + ': HTTP ' + r.status + (m ? ' — ' + m : '');
  }

  /* --- sign-in ------------------------------------------------------------ */

  async function signIn(key) {
    state.key = key;
    const r = await api('GET', '/keys/me');
    if (r.status === 401) return 'This key is not valid (unknown or revoked).';
    if (!r.ok || !r.data) return errorText(r, 'GET /keys/me');
    if (r.data.role !== 'admin') {
      return 'This is a client key of company ' + r.data.company + ': it can decide and reward, ' +
        'but the console needs an admin key (offerctl keys create --company ' + r.data.company +
        ' --role admin).';
    }
    state.company = r.data.company;
    sessionStorage.setItem(KEY, key);
    return null;
  }

  function signOut() {
    sessionStorage.removeItem(KEY);
    state.key = state.company = null;
    stopTimers();
    showSignIn('');
  }

  function showSignIn(msg) {
    $('#signin').hidden = false;
    $('#page').hidden = true;
    $('#nav').hidden = true;
    $('#who').hidden = true;
    $('#signin-error').textContent = msg || '';
  }

  function showApp() {
    $('#signin').hidden = true;
    $('#page').hidden = false;
    $('#nav').hidden = false;
    $('#who').hidden = false;
    $('#who-company').textContent = 'company ' + state.company;
    route();
  }

  /* --- charts ------------------------------------------------------------- */

  function stopTimers() {
    if (state.timer) clearInterval(state.timer);
    if (state.evalPoll) clearTimeout(state.evalPoll);
    state.timer = state.evalPoll = null;
  }

  function dropCharts() {
    for (const c of Object.values(state.charts)) c.destroy();
    state.charts = {};
  }

  /* A line chart over time: xs in epoch seconds, series [{label, values}]. */
  function lineChart(name, parent, title, xs, series, opts) {
    opts = opts || {};
    const box = el('div', { class: 'chart', id: 'chart-' + name });
    parent.append(box);
    const width = Math.max(480, (parent.clientWidth || 1000) - 30);
    const u = new uPlot({
      title,
      width,
      height: 260,
      scales: { x: { time: true }, y: opts.y ? { range: opts.y } : {} },
      series: [{}].concat(series.map((s, i) => ({
        label: s.label,
        stroke: PALETTE[i % PALETTE.length],
        width: 2,
        spanGaps: true,
        points: { show: true, size: 5 },
        value: (u, v) => (v === null || v === undefined ? '—' : opts.fmt ? opts.fmt(v) : v),
      }))),
      axes: [{}, { size: 64, values: (u, ticks) => ticks.map((v) => (opts.fmt ? opts.fmt(v) : v)) }],
    }, [xs].concat(series.map((s) => s.values)), box);
    if (!box.isConnected) { // a render that was replaced meanwhile
      u.destroy();
      return null;
    }
    if (state.charts[name]) state.charts[name].destroy();
    state.charts[name] = u;
    return u;
  }

  /* An interval bar: [lo, hi] on [min, max], a dot at x. */
  function intervalBar(x, lo, hi, min, max) {
    const W = 220, H = 16;
    const sx = (v) => 6 + (W - 12) * (Math.min(max, Math.max(min, v)) - min) / (max - min || 1);
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('class', 'interval');
    svg.setAttribute('width', W);
    svg.setAttribute('height', H);
    const add = (tag, a) => {
      const e = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(a)) e.setAttribute(k, v);
      svg.append(e);
    };
    add('line', { x1: 6, x2: W - 6, y1: H / 2, y2: H / 2, style: 'stroke:#d9e2ec;stroke-width:1' });
    if (lo !== null && lo !== undefined && hi !== null && hi !== undefined) {
      add('line', { x1: sx(lo), x2: sx(hi), y1: H / 2, y2: H / 2 });
      add('line', { x1: sx(lo), x2: sx(lo), y1: 3, y2: H - 3 });
      add('line', { x1: sx(hi), x2: sx(hi), y1: 3, y2: H - 3 });
    }
    if (x !== null && x !== undefined) add('circle', { cx: sx(x), cy: H / 2, r: 4 });
    const t = document.createElementNS(ns, 'title');
    t.textContent = num(x) + ' [' + num(lo) + ', ' + num(hi) + ']';
    svg.append(t);
    return svg;
  }

  function notAvailable(page, r, what, branch) {
    page.append(el('div', { class: 'card', id: 'unavailable' },
      el('p', {}, what + ' is not available on this offerd (' + errorText(r, 'the answer') + ').'),
      r.status === 404 ? el('p', { class: 'muted' }, 'It comes with ' + branch + '.') : null));
  }

  /* --- overview ----------------------------------------------------------- */

  async function overview(page) {
    const minutes = Number(sessionStorage.getItem('offerd.console.minutes') || 60);
    const sel = el('select', { id: 'minutes', onchange: (e) => {
      sessionStorage.setItem('offerd.console.minutes', e.target.value);
      render();
    } }, [15, 60, 240, 1440].map((m) => el('option', { value: m, selected: m === minutes }, m < 60 ? m + ' minutes' : m / 60 + ' h')));
    page.append(el('div', { class: 'row' }, el('h1', {}, 'Overview'), el('span', { class: 'muted' }, 'window'), sel));
    const r = await api('GET', '/console/api/overview?minutes=' + minutes);
    if (!r.ok) { page.append(el('p', { class: 'error' }, errorText(r, 'GET /console/api/overview'))); return; }
    const d = r.data;
    const t = d.all.totals;
    page.append(el('div', { class: 'cards' },
      el('div', { class: 'stat' }, el('div', { class: 'v', id: 'total-decisions' }, int(t.decisions)), el('div', { class: 'k' }, 'decisions')),
      el('div', { class: 'stat' }, el('div', { class: 'v', id: 'total-rewards' }, int(t.rewards)), el('div', { class: 'k' }, 'rewards')),
      el('div', { class: 'stat' }, el('div', { class: 'v' }, pct(t.acceptance)), el('div', { class: 'k' }, 'acceptance (accepted / rewarded)')),
      el('div', { class: 'stat' }, el('div', { class: 'v' }, d.versions.length), el('div', { class: 'k' }, 'agent versions deciding'))));
    const c1 = el('div', { class: 'card' });
    const c2 = el('div', { class: 'card' });
    page.append(c1, c2);
    lineChart('traffic', c1, 'Decisions and rewards per minute', d.time,
      [{ label: 'decisions', values: d.all.decisions }, { label: 'rewards', values: d.all.rewards }]);
    lineChart('acceptance', c2, 'Acceptance per minute, by agent version', d.time,
      d.versions.map((v) => ({ label: v.version, values: v.acceptance })), { y: [0, 1], fmt: pct });
    const tb = el('tbody');
    for (const v of d.versions) {
      tb.append(el('tr', {}, el('td', {}, v.version), el('td', { class: 'num' }, int(v.totals.decisions)),
        el('td', { class: 'num' }, int(v.totals.rewards)), el('td', { class: 'num' }, int(v.totals.accepted)),
        el('td', { class: 'num' }, pct(v.totals.acceptance))));
    }
    page.append(el('div', { class: 'card' }, el('h2', {}, 'Per agent version, last ' + minutes + ' minutes'),
      el('table', {}, el('thead', {}, el('tr', {}, ['version', 'decisions', 'rewards', 'accepted', 'acceptance'].map((h) => el('th', {}, h)))), tb)));
  }

  /* --- experiments -------------------------------------------------------- */

  async function experiments(page) {
    page.append(el('h1', {}, 'Experiments: champion and challengers'));
    const msg = el('p', { id: 'experiment-message', role: 'status' });
    page.append(msg);
    const r = await api('GET', '/experiments');
    if (!r.ok) { notAvailable(page, r, 'Champion/challenger (GET /experiments)', 'the experiments change'); return; }
    const arms = r.data.arms || [];
    let max = 0;
    for (const a of arms) max = Math.max(max, a.ci95 ? a.ci95[1] : 0, a.acceptance || 0);
    max = Math.min(1, Math.max(0.05, max * 1.1));
    const act = async (path, body, what) => {
      for (const b of page.querySelectorAll('button')) b.disabled = true;
      const x = await api('POST', path, body);
      msg.className = x.ok ? 'ok' : 'error';
      msg.textContent = x.ok ? what + ': done.' : errorText(x, what);
      const keep = msg.textContent;
      await render();
      const m = document.getElementById('experiment-message');
      if (m) { m.textContent = keep; m.className = x.ok ? 'ok' : 'error'; }
    };
    const tb = el('tbody');
    for (const a of arms) {
      const role = a.role || '';
      tb.append(el('tr', { 'data-version': a.version },
        el('td', {}, a.version), el('td', {}, el('span', { class: 'tag ' + role }, role)),
        el('td', { class: 'num' }, a.traffic === undefined ? '—' : a.traffic + '%'),
        el('td', { class: 'num' }, int(a.decisions)), el('td', { class: 'num' }, int(a.rewards)),
        el('td', { class: 'num' }, pct(a.acceptance)),
        el('td', {}, intervalBar(a.acceptance, a.ci95 && a.ci95[0], a.ci95 && a.ci95[1], 0, max),
          el('span', { class: 'muted' }, a.ci95 ? ' ' + pct(a.ci95[0]) + ' – ' + pct(a.ci95[1]) : '')),
        el('td', { class: 'num' }, a.p_better === null || a.p_better === undefined ? '—' : pct(a.p_better)),
        el('td', {}, role !== 'champion'
          ? el('button', { type: 'button', class: 'promote', 'data-version': a.version,
            onclick: () => act('/experiments/promote', { version: a.version }, 'Promote ' + a.version) }, 'Promote')
          : null)));
    }
    page.append(el('div', { class: 'card' },
      el('table', { id: 'arms' }, el('thead', {}, el('tr', {}, ['version', 'role', 'traffic', 'decisions', 'rewards', 'acceptance', '95% interval', 'P(better than champion)', ''].map((h) => el('th', {}, h)))), tb),
      arms.length === 0 ? el('p', { class: 'muted' }, 'No arms yet: offerctl agent release VERSION --traffic 10 starts a challenger.') : null,
      el('p', {}, el('button', { type: 'button', class: 'secondary', id: 'rollback',
        onclick: () => act('/experiments/rollback', {}, 'Roll back') }, 'Roll back to the previous champion'))));
  }

  /* --- evaluations -------------------------------------------------------- */

  function evalResults(box, ev) {
    box.textContent = '';
    const prog = typeof ev.progress === 'number' ? ev.progress : (ev.status === 'done' ? 1 : 0);
    box.append(el('div', { class: 'row' }, el('strong', {}, 'Evaluation ' + ev.id),
      el('span', { class: 'tag', id: 'eval-status' }, ev.status),
      el('span', { class: 'progress' }, el('div', { style: 'width:' + Math.round(100 * prog) + '%' })),
      el('span', { class: 'muted' }, Math.round(100 * prog) + '%')));
    if (ev.error || ev.message) box.append(el('p', { class: 'error' }, ev.error || ev.message));
    const results = ev.results || [];
    if (results.length === 0) return;
    let lo = Infinity, hi = -Infinity;
    for (const res of results) {
      for (const e of Object.values(res.estimates || {})) {
        for (const v of [e.value].concat(e.ci95 || [])) {
          if (typeof v === 'number' && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
        }
      }
    }
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    const pad = (hi - lo) * 0.05 || 0.05;
    const tb = el('tbody');
    for (const res of results) {
      for (const [name, e] of Object.entries(res.estimates || {})) {
        tb.append(el('tr', {}, el('td', {}, res.policy), el('td', {}, name.toUpperCase()),
          el('td', { class: 'num' }, num(e.value)),
          el('td', {}, intervalBar(e.value, e.ci95 && e.ci95[0], e.ci95 && e.ci95[1], lo - pad, hi + pad),
            el('span', { class: 'muted' }, e.ci95 ? ' [' + num(e.ci95[0]) + ', ' + num(e.ci95[1]) + ']' : ''))));
      }
    }
    box.append(el('table', { id: 'estimates' }, el('thead', {}, el('tr', {}, ['policy', 'estimator', 'value', '95% interval (one scale for all rows)'].map((h) => el('th', {}, h)))), tb));
  }

  async function watchEvaluation(box, id) {
    const r = await api('GET', '/evaluations/' + encodeURIComponent(id));
    if (state.page !== 'evaluations') return;
    if (!r.ok) { box.textContent = errorText(r, 'GET /evaluations/' + id); return; }
    evalResults(box, r.data);
    if (r.data.status === 'queued' || r.data.status === 'running')
      state.evalPoll = setTimeout(() => watchEvaluation(box, id), 1000);
  }

  async function evaluations(page) {
    page.append(el('h1', {}, 'Evaluations: off-policy estimates over the logged decisions'));
    const list = await api('GET', '/evaluations');
    if (!list.ok) { notAvailable(page, list, 'Evaluations (GET /evaluations)', 'the evaluations change'); return; }
    const today = new Date().toISOString().slice(0, 10);
    const from = el('input', { type: 'date', id: 'eval-from', value: '2000-01-01' });
    const to = el('input', { type: 'date', id: 'eval-to', value: today });
    const boxes = POLICIES.map((p) => el('label', {}, el('input', { type: 'checkbox', value: p, checked: p === 'squarecb' || p === 'epsilon-greedy' }), ' ' + p + ' '));
    const out = el('div', { class: 'card', id: 'evaluation' });
    const err = el('p', { class: 'error', id: 'eval-error', role: 'alert' });
    const start = async (e) => {
      e.preventDefault();
      const policies = boxes.map((b) => b.firstChild).filter((c) => c.checked).map((c) => ({ name: c.value, params: {} }));
      err.textContent = '';
      const r = await api('POST', '/evaluations', { policies, from: from.value, to: to.value });
      if (!r.ok) { err.textContent = errorText(r, 'POST /evaluations'); return; }
      if (state.evalPoll) clearTimeout(state.evalPoll);
      evalResults(out, r.data);
      watchEvaluation(out, r.data.id);
    };
    page.append(el('form', { class: 'card', id: 'eval-form', onsubmit: start },
      el('div', { class: 'row' }, el('strong', {}, 'Policies'), boxes),
      el('div', { class: 'row' }, el('span', {}, 'from'), from, el('span', {}, 'to'), to,
        el('button', { type: 'submit', id: 'eval-start' }, 'Start evaluation')), err));
    page.append(out);
    const items = Array.isArray(list.data) ? list.data : (list.data && (list.data.evaluations || list.data.items)) || [];
    const tb = el('tbody');
    for (const ev of items.slice(0, 20)) {
      const req = ev.request || ev; // what was asked: policies and window
      tb.append(el('tr', {}, el('td', {}, el('a', { href: '#evaluations', onclick: (e) => { e.preventDefault(); watchEvaluation(out, ev.id); } }, ev.id)),
        el('td', {}, ev.status), el('td', {}, (req.policies || []).map((p) => (p.name || p)).join(', ')),
        el('td', {}, (req.from || '') + ' – ' + (req.to || '')), el('td', { class: 'muted' }, ev.created || '')));
    }
    page.append(el('div', { class: 'card' }, el('h2', {}, 'Earlier evaluations'),
      items.length ? el('table', { id: 'evaluations' }, el('thead', {}, el('tr', {}, ['id', 'status', 'policies', 'window', 'created'].map((h) => el('th', {}, h)))), tb) : el('p', { class: 'muted' }, 'None yet.')));
  }

  /* --- the model ---------------------------------------------------------- */

  function bestCells(best) {
    return [0, 1, 2].map((i) => {
      const b = best[i];
      return el('td', {}, b ? el('span', { title: (b.name || '') + ' · ' + int(b.n) + ' observations' }, b.offer, el('span', { class: 'muted' }, ' ' + num(b.value, 2))) : '');
    });
  }

  async function model(page) {
    page.append(el('h1', {}, 'The model: what the agent has learned'));
    const r = await api('GET', '/console/api/model?minutes=60');
    if (!r.ok) { page.append(el('p', { class: 'error' }, errorText(r, 'GET /console/api/model'))); return; }
    const d = r.data;
    const c = el('div', { class: 'card' });
    page.append(c);
    lineChart('moved', c, 'How values moved: mean reward of the offer shown first, running over the last hour', d.moved.time,
      d.moved.offers.map((o) => ({ label: o.offer + (o.name ? ' ' + o.name : ''), values: o.value })), { fmt: (v) => num(v, 2) });
    const offers = el('tbody');
    const maxn = Math.max(1, ...d.offers.map((o) => o.n));
    for (const o of d.offers) {
      offers.append(el('tr', {}, el('td', {}, o.offer), el('td', {}, o.name || ''), el('td', { class: 'num' }, num(o.value, 3)),
        el('td', { class: 'num' }, int(o.n)),
        el('td', {}, el('span', { class: 'progress' }, el('div', { style: 'width:' + Math.round(100 * o.n / maxn) + '%' })))));
    }
    page.append(el('div', { class: 'card' }, el('h2', {}, 'Offers, best value first (all states)'),
      el('table', { id: 'model-offers' }, el('thead', {}, el('tr', {}, ['offer', 'product', 'value', 'observations', ''].map((h) => el('th', {}, h)))), offers),
      d.truncated ? el('p', { class: 'muted' }, 'Only the ' + d.rows + ' most observed (state, offer) values are read.') : null));
    for (const v of d.contextual || []) {
      const tb = el('tbody');
      for (const o of v.offers) {
        tb.append(el('tr', { 'data-offer': o.offer }, el('td', {}, o.offer), el('td', {}, o.name || ''),
          el('td', { class: 'num' }, num(o.score, 3)),
          el('td', { class: 'weights' }, o.features.map((f) => el('span', { class: 'tag ' + (f.weight >= 0 ? 'champion' : 'excluded'), title: 'mean contribution ' + num(f.weight, 4) },
            f.name + ' ' + (f.weight >= 0 ? '+' : '') + num(f.weight, 3))))));
      }
      page.append(el('div', { class: 'card' }, el('h2', {}, 'Version ' + v.version + ' (' + v.policy + '): best offers and their heaviest features'),
        el('p', { class: 'muted' }, 'The model now, over the contexts of the latest ' + v.episodes + ' decisions: each offer\'s mean score, and the features whose weight × value moved it most on average.'),
        el('table', { class: 'model-weights', 'data-version': v.version }, el('thead', {}, el('tr', {}, ['offer', 'product', 'mean score', 'heaviest features (mean weight × value)'].map((h) => el('th', {}, h)))), tb)));
    }
    for (const f of d.features) {
      const tb = el('tbody');
      for (const v of f.values) tb.append(el('tr', {}, el('td', {}, v.value), el('td', { class: 'num' }, int(v.n)), bestCells(v.best)));
      page.append(el('div', { class: 'card' }, el('h2', {}, 'Best offers per ' + f.feature),
        el('table', { class: 'feature' }, el('thead', {}, el('tr', {}, [f.feature, 'observations', 'best', 'second', 'third'].map((h) => el('th', {}, h)))), tb)));
    }
    const st = el('tbody');
    for (const s of d.states) st.append(el('tr', {}, el('td', {}, s.state), el('td', { class: 'num' }, int(s.n)), bestCells(s.best)));
    page.append(el('div', { class: 'card' }, el('h2', {}, 'Best offers per state (the most observed ' + d.states.length + ')'),
      el('table', { id: 'model-states' }, el('thead', {}, el('tr', {}, ['state (segment_month_half_weekday)', 'observations', 'best', 'second', 'third'].map((h) => el('th', {}, h)))), st)));
  }

  /* --- live decisions ----------------------------------------------------- */

  function statesText(s) {
    if (s === null || typeof s !== 'object') return String(s);
    return Object.entries(s).map(([k, v]) => k + '=' + (typeof v === 'object' ? JSON.stringify(v) : v)).join(' ');
  }

  function eligibilityCell(e, recorded) {
    if (e === null || e === undefined) return el('td', { class: 'muted' }, recorded ? '—' : 'not recorded');
    if (typeof e !== 'object') return el('td', {}, String(e));
    return el('td', { class: 'eligibility' }, (e.eligible || []).map((o) => el('span', { class: 'tag' }, o)),
      (e.excluded || []).map((x) => el('span', { class: 'tag excluded', title: x.why || '' }, x.offer + ' ✕')));
  }

  /* The explanation computed now (agent_explain with the model as it is now, which moved since
   * the decision): per shown offer, score ± uncertainty, explored or exploited, and the
   * features that weighed most; the learned value of the offer in its state below. */
  function explanationCell(e) {
    const now = e.explanation_now || { offers: [] };
    const td = el('td', { class: 'explanation' });
    if (now.error) td.append(el('div', { class: 'muted' }, now.error));
    for (const x of now.offers) {
      const learned = (e.explanation || []).find((v) => v.offer === x.offer);
      td.append(el('div', { 'data-offer': x.offer }, x.offer + ' ',
        el('span', {}, num(x.score, 2) + ' ± ' + num(x.uncertainty, 2)), ' ',
        el('span', { class: 'tag ' + (x.explored ? 'challenger' : 'champion') }, x.explored ? 'explored' : 'exploited'),
        el('div', { class: 'muted features' }, (x.top_features || []).slice(0, 3).map((f) => f.name + ' ' + num(f.weight, 2)).join(', ')),
        learned ? el('div', { class: 'muted' }, 'learned value ' + num(learned.value, 2) + ' from ' + int(learned.n) + ' obs. (' + learned.from + ')') : null));
    }
    return td;
  }

  async function decisions(page) {
    page.append(el('div', { class: 'row' }, el('h1', {}, 'Live decisions'), el('span', { class: 'muted' }, 'the latest 50, refreshed every 10 s')));
    const r = await api('GET', '/console/api/episodes?limit=50');
    if (!r.ok) { page.append(el('p', { class: 'error' }, errorText(r, 'GET /console/api/episodes'))); return; }
    const tb = el('tbody');
    for (const e of r.data.episodes) {
      const rw = e.reward;
      tb.append(el('tr', { 'data-episode': e.id },
        el('td', { class: 'num' }, e.id),
        el('td', {}, (e.time || '').replace('T', ' ').slice(0, 19), el('br'), el('span', { class: 'muted' }, e.customer_id)),
        el('td', {}, e.state_key || '', el('br'), el('span', { class: 'muted' }, statesText(e.states))),
        el('td', {}, e.agent_version || '', el('br'), el('span', { class: 'muted' }, e.policy || '')),
        eligibilityCell(e.eligibility, r.data.eligibility_recorded),
        // A slot whose offer had a small probability was the policy exploring.
        el('td', {}, e.shown.map((o, i) => el('div', { title: o.name || '' }, (i + 1) + '. ' + o.offer + ' ',
          el('span', { class: 'muted' }, 'p=' + num(o.propensity, 3)),
          null))),
        explanationCell(e),
        el('td', {}, rw ? el('span', { class: rw.accepted ? 'ok' : 'muted' }, rw.accepted ? 'accepted' + (rw.accepted_offer ? ' ' + rw.accepted_offer : '') : 'not accepted') : el('span', { class: 'muted' }, 'waiting'),
          rw ? el('div', { class: 'muted' }, 'rewards ' + rw.rewards.map((x) => num(x, 1)).join(' / ')) : null)));
    }
    page.append(el('div', { class: 'card' }, el('table', { id: 'episodes' },
      el('thead', {}, el('tr', {}, ['#', 'time / customer', 'state', 'version / policy', 'eligible set', 'shown (propensity)', 'explanation (now: the model moved since)', 'reward'].map((h) => el('th', {}, h)))), tb),
      r.data.episodes.length === 0 ? el('p', { class: 'muted' }, 'No decisions yet.') : null));
  }

  /* --- routing ------------------------------------------------------------ */

  const PAGES = { overview, experiments, evaluations, model, decisions };

  /* Each render fills a view of its own: one that a later render replaced
   * (another page, or the 10 s refresh) goes on detached and draws nothing. */
  async function render() {
    const name = state.page;
    const token = ++state.renders;
    const page = $('#page');
    const view = el('div', { class: 'view' });
    dropCharts();
    page.replaceChildren(view);
    page.dataset.page = name;
    page.dataset.loaded = 'no';
    try {
      await PAGES[name](view);
    } catch (e) {
      view.append(el('p', { class: 'error' }, 'This page failed: ' + e.message));
      throw e;
    } finally {
      if (token === state.renders) page.dataset.loaded = 'yes';
    }
  }

  function route() {
    if (!state.key) return;
    const name = (location.hash || '#overview').slice(1);
    state.page = PAGES[name] ? name : 'overview';
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === state.page);
    stopTimers();
    render();
    if (state.page === 'overview' || state.page === 'decisions') {
      state.timer = setInterval(() => { if (!document.hidden) render(); }, 10000);
    }
  }

  window.addEventListener('hashchange', route);
  $('#signout').addEventListener('click', signOut);
  $('#signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const err = await signIn($('#key').value.trim());
    if (err) { state.key = null; showSignIn(err); return; }
    $('#key').value = '';
    showApp();
  });

  (async () => {
    const saved = sessionStorage.getItem(KEY);
    if (!saved) { showSignIn(''); return; }
    const err = await signIn(saved);
    if (err) { sessionStorage.removeItem(KEY); state.key = null; showSignIn(err); return; }
    showApp();
  })();
})();
