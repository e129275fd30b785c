// The study view: a small page over the dashboard's JSON API (docs/dashboard.md). No framework
// and no build step. Everything shown comes through textContent, never innerHTML: step names,
// parameters and error output are the user's text.
'use strict';

(() => {
  const STATE_ORDER = [
    'FINISHED',
    'FAILED',
    'TIMEDOUT',
    'CANCELLED',
    'RUNNING',
    'FINISHING',
    'PENDING',
    'QUEUED',
    'PREEMPTED',
    'WAITING',
    'INITIALIZED',
    'UNKNOWN',
  ];
  const COLOURS = {
    FINISHED: 'var(--s-finished)',
    FAILED: 'var(--s-failed)',
    TIMEDOUT: 'var(--s-timedout)',
    CANCELLED: 'var(--s-cancelled)',
    RUNNING: 'var(--s-running)',
    FINISHING: 'var(--s-running)',
    PENDING: 'var(--s-pending)',
    QUEUED: 'var(--s-pending)',
    PREEMPTED: 'var(--s-preempted)',
  };
  const LIGHT = new Set(['INITIALIZED', 'WAITING', 'UNKNOWN', 'NOTFOUND', 'DRYRUN']);
  const STUDY_COLOURS = { RUNNING: 'RUNNING', FINISHED: 'FINISHED', FAILURE: 'FAILED', CANCELLED: 'CANCELLED' };
  const LIST_POLL_MS = 3000;
  const DETAIL_REFRESH_MS = 1000;
  const WORKERS_REFRESH_MS = 5000;
  const PAGE = 50;

  const ENDED = new Set(['FINISHED', 'FAILURE', 'CANCELLED']);

  const view = document.getElementById('view');
  const live = document.getElementById('live');
  let teardown = () => {};
  let clockOffset = 0; // server now - local now
  // Opened at `/` itself (no #route): a dashboard of one study, or a Redis holding only one, opens it.
  let landing = location.hash === '' || location.hash === '#';

  // ---- small helpers ---------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function svg(tag, attrs, ...children) {
    const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined) el.setAttribute(k, String(v));
    for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }

  async function api(path) {
    const res = await fetch(`api/${path}`, { headers: { Accept: 'application/json' } });
    const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
    if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
    return body;
  }

  function setLive(ok, text) {
    live.className = `live ${ok ? 'ok' : 'down'}`;
    live.textContent = text;
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return '--';
    let s = Math.max(0, Math.round(ms / 1000));
    const d = Math.floor(s / 86400);
    s -= d * 86400;
    const hh = Math.floor(s / 3600);
    s -= hh * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    const p = (n) => String(n).padStart(2, '0');
    if (d) return `${d}d${p(hh)}h`;
    if (hh) return `${hh}h${p(m)}m`;
    if (m) return `${m}m${p(s)}s`;
    return `${s}s`;
  }

  function when(ms) {
    if (!ms) return '--';
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, '0');
    const time = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    const today = new Date().toDateString() === d.toDateString();
    return today ? time : `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${time}`;
  }

  function orderedStates(counts) {
    const names = Object.keys(counts).filter((k) => counts[k] > 0);
    return names.sort((a, b) => rank(a) - rank(b));
  }
  function rank(s) {
    const k = STATE_ORDER.indexOf(s);
    return k === -1 ? STATE_ORDER.length : k;
  }

  function badge(state, colourOf = state) {
    const el = h('span', { class: `badge${LIGHT.has(colourOf) || !COLOURS[colourOf] ? ' light' : ''}` }, state);
    if (COLOURS[colourOf]) el.style.background = COLOURS[colourOf];
    return el;
  }

  function studyBadge(state) {
    return badge(state, STUDY_COLOURS[state] || state);
  }

  function bar(counts, total, big) {
    const el = h('div', { class: `bar${big ? ' big' : ''}`, role: 'img' });
    fillBar(el, counts, total);
    return el;
  }
  function fillBar(el, counts, total) {
    el.replaceChildren();
    const parts = [];
    for (const s of orderedStates(counts)) {
      if (!COLOURS[s]) continue; // not started: the bar's own background
      const seg = h('span', { title: `${s} ${counts[s]}` });
      seg.style.width = `${total ? (100 * counts[s]) / total : 0}%`;
      seg.style.background = COLOURS[s];
      el.append(seg);
      parts.push(`${s} ${counts[s]}`);
    }
    el.setAttribute('aria-label', parts.join(', ') || 'nothing started');
  }

  function chips(counts) {
    return h(
      'div',
      { class: 'chips' },
      orderedStates(counts).map((s) => {
        const dot = h('i');
        dot.style.background = COLOURS[s] || 'var(--s-waiting)';
        return h('span', { class: 'chip', 'data-state': s }, dot, `${s} ${counts[s]}`);
      }),
    );
  }

  /** replaceChildren without the nulls of optional parts (which it would print as "null"). */
  function put(el, ...children) {
    el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  }

  function errorBox(message) {
    return h('div', { class: 'error-box' }, message);
  }

  /** The page could not reach the server at all (fetch rejects with a TypeError), as opposed to an error answer. */
  function unreachable(err) {
    return err instanceof TypeError;
  }

  function openStudy(id) {
    landing = false;
    location.replace(`#/study/${encodeURIComponent(id)}`);
  }

  // ---- routing -----------------------------------------------------------------------------

  function route() {
    teardown();
    teardown = () => {};
    const hash = location.hash || '#/';
    if (location.hash && location.hash !== '#') landing = false;
    const m = /^#\/study\/([^/?]+)/.exec(hash);
    for (const a of document.querySelectorAll('[data-nav]')) a.classList.remove('current');
    if (m) teardown = showStudy(decodeURIComponent(m[1]));
    else teardown = showList();
  }
  window.addEventListener('hashchange', route);

  // ---- the list of studies -----------------------------------------------------------------

  function showList() {
    let stopped = false;
    let timer;
    const body = h('tbody');
    const problem = h('div');
    const title = h('p', { class: 'muted' }, '');
    view.replaceChildren(
      h('h1', {}, 'Studies'),
      title,
      problem,
      h(
        'div',
        { class: 'panel' },
        h(
          'table',
          { 'data-testid': 'study-list' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', {}, 'Study'),
              h('th', {}, 'State'),
              h('th', {}, 'Progress'),
              h('th', {}, 'Counts'),
              h('th', {}, 'Started'),
              h('th', { class: 'num' }, 'Elapsed'),
              h('th', { class: 'num' }, 'ETA'),
              h('th', {}, 'Folder'),
            ),
          ),
          body,
        ),
      ),
    );
    api('info')
      .then((info) => {
        if (stopped) return;
        if (landing && info.study) return openStudy(info.study);
        title.textContent = info.redis
          ? `Key prefix ${info.prefix} on ${info.redis}. Queue actions are ${info.actions ? 'ON' : 'off (read-only)'}.`
          : `Shown ${info.folderNote}.`;
      })
      .catch(() => {})
      .finally(() => {
        if (!stopped) void poll(); // after info: a dashboard of one study opens it, whatever the list holds
      });

    async function poll() {
      try {
        const page = await api('studies?limit=100');
        if (stopped) return;
        if (landing && page.total === 1 && page.items.length === 1) return openStudy(page.items[0].id);
        landing = false;
        setLive(true, 'live');
        problem.replaceChildren();
        body.replaceChildren(
          ...page.items.map((s) =>
            h(
              'tr',
              { 'data-testid': 'study-row', 'data-study-id': s.id },
              h(
                'td',
                {},
                h('a', { href: `#/study/${encodeURIComponent(s.id)}` }, s.name),
                h('div', { class: 'muted mono' }, s.id),
              ),
              h('td', {}, studyBadge(s.state)),
              h('td', {}, bar(s.counts, s.total), h('div', { class: 'muted' }, `${s.final} / ${s.total} done`)),
              h('td', {}, chips(s.counts)),
              h('td', {}, when(s.startedAt)),
              h('td', { class: 'num' }, duration(s.elapsedMs)),
              h('td', { class: 'num' }, s.state === 'RUNNING' ? duration(s.etaMs) : '--'),
              h('td', { class: 'mono' }, s.root),
            ),
          ),
        );
        if (page.items.length === 0) {
          body.append(
            h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No study in this Redis under this prefix yet.')),
          );
        }
      } catch (err) {
        if (stopped) return;
        setLive(false, 'server unreachable');
        problem.replaceChildren(errorBox(String(err.message || err)));
      }
      if (!stopped) timer = setTimeout(poll, LIST_POLL_MS);
    }
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }

  // ---- one study ---------------------------------------------------------------------------

  function showStudy(id) {
    const enc = encodeURIComponent(id);
    let stopped = false;
    let detail;
    let graph;
    let lastVersion;
    let refreshTimer;
    let workersTimer;
    let lastRefresh = 0;
    const filter = { step: '', state: '', offset: 0 };
    let failOffset = 0;

    const head = h('div', { class: 'panel', 'data-testid': 'study-head' });
    const banner = h('div'); // the study finished; where the view comes from
    const notice = h('div'); // problems
    const steps = h('div', { 'data-testid': 'steps' });
    const dag = h('div', { 'data-testid': 'dag' }, h('p', { class: 'muted' }, 'Laying out the DAG…'));
    const failures = h('div', { 'data-testid': 'failures' });
    const byParam = h('div', { 'data-testid': 'by-param' });
    const workers = h('div', { 'data-testid': 'workers' });
    const instances = h('div', { 'data-testid': 'instances' });
    view.replaceChildren(
      h('div', { class: 'crumbs' }, h('a', { href: '#/' }, 'Studies'), ' / ', h('span', { class: 'mono' }, id)),
      banner,
      notice,
      head,
      h(
        'div',
        { class: 'grid' },
        h('section', { class: 'panel' }, h('h2', {}, 'Steps'), steps),
        h('section', { class: 'panel' }, h('h2', {}, 'DAG'), dag),
      ),
      h('div', { class: 'panel' }, h('h2', {}, 'Failed and timed-out instances'), failures),
      h('div', { class: 'panel' }, h('h2', {}, 'Failures by parameter'), byParam),
      h('div', { class: 'panel' }, h('h2', {}, 'Workers and allocations'), workers),
      h('div', { class: 'panel' }, h('h2', {}, 'Instances'), instances),
    );

    const source = new EventSource(`api/studies/${enc}/stream`);
    source.addEventListener('summary', (e) => {
      if (stopped) return;
      const d = JSON.parse(e.data);
      clockOffset = d.now - Date.now();
      setLive(true, 'live');
      notice.replaceChildren();
      detail = d;
      renderBanner(d);
      renderHead(d);
      renderSteps(d);
      if (graph) paintGraph(d);
      else if (graph === undefined) loadGraph();
      if (d.version !== lastVersion) {
        lastVersion = d.version;
        scheduleRefresh();
      }
    });
    source.addEventListener('problem', (e) => {
      if (stopped) return;
      const d = JSON.parse(e.data);
      setLive(false, 'problem');
      notice.replaceChildren(errorBox(d.error));
    });
    source.onerror = () => {
      if (stopped) return;
      if (ended()) serverGone();
      else setLive(false, 'reconnecting');
    };

    function ended() {
      return detail !== undefined && ENDED.has(detail.state);
    }

    /** A panel's request failed: its error in its place, unless the study ended and only the server went away. */
    function failed(panel, err) {
      if (stopped) return;
      if (ended() && unreachable(err)) serverGone();
      else panel.replaceChildren(errorBox(String(err.message || err)));
    }

    // The study ended and then the dashboard stopped: what the page shows is the final state, so
    // it stays, with a word on why nothing moves any more.
    function serverGone() {
      source.close();
      setLive(false, 'dashboard stopped');
      notice.replaceChildren(
        h(
          'div',
          { class: 'notice', 'data-testid': 'server-gone' },
          'The dashboard has stopped. This page keeps showing the state the study ended in.',
        ),
      );
    }

    function renderBanner(d) {
      put(
        banner,
        ENDED.has(d.state)
          ? h(
              'div',
              { class: `ended-box ${d.state}`, 'data-testid': 'study-ended' },
              h('strong', {}, 'Study finished'),
              ` (${d.state}): ${d.final} of ${d.total} instances done`,
              ...orderedStates(d.counts).map((s) => ` · ${s} ${d.counts[s]}`),
              d.endedAt ? ` · ended ${when(d.endedAt)}` : '',
            )
          : null,
        d.source.kind === 'folder'
          ? h('div', { class: 'notice', 'data-testid': 'source-note' }, `Shown ${d.source.note}.`)
          : null,
      );
    }

    function scheduleRefresh() {
      if (refreshTimer) return;
      const wait = Math.max(0, lastRefresh + DETAIL_REFRESH_MS - Date.now());
      refreshTimer = setTimeout(() => {
        refreshTimer = undefined;
        lastRefresh = Date.now();
        void loadFailures();
        void loadByParam();
        void loadInstances();
      }, wait);
    }

    const tick = setInterval(() => {
      // A study nobody conducts does not move on: its clock stays where the last summary put it.
      if (
        detail &&
        detail.state === 'RUNNING' &&
        detail.startedAt &&
        !(detail.conductor && !detail.conductor.running)
      ) {
        const el = head.querySelector('[data-stat="elapsed"] .n');
        if (el) el.textContent = duration(Date.now() + clockOffset - detail.startedAt);
      }
    }, 1000);

    async function loadWorkers() {
      try {
        const w = await api(`studies/${enc}/workers`);
        if (!stopped) renderWorkers(w);
      } catch (err) {
        failed(workers, err);
      }
      if (!stopped) workersTimer = setTimeout(loadWorkers, WORKERS_REFRESH_MS);
    }
    void loadWorkers();

    // -- head: name, state, numbers
    function renderHead(d) {
      const stat = (key, label, value, extra) =>
        h(
          'div',
          { class: `stat ${extra || ''}`, 'data-stat': key },
          h('div', { class: 'n' }, value),
          h('div', { class: 'k' }, label),
        );
      const c = d.counts;
      const n = (s) => c[s] || 0;
      put(
        head,
        h(
          'div',
          { class: 'row' },
          h('h1', { 'data-testid': 'study-name' }, d.name),
          h('span', { 'data-testid': 'study-state' }, studyBadge(d.state)),
          d.cancelled ? h('span', { class: 'badge light' }, 'cancel requested') : null,
          h('span', { class: 'spacer' }),
          h('span', { class: 'muted mono' }, d.host ? `${d.host}:${d.root}` : d.root),
        ),
        d.description ? h('p', { class: 'desc muted' }, d.description) : null,
        d.conductor && d.conductor.message
          ? h('div', { class: 'notice conductor-gone', 'data-testid': 'conductor-gone' }, d.conductor.message)
          : null,
        h(
          'div',
          { class: 'stats', 'data-testid': 'counts' },
          stat('total', 'instances', d.total),
          ...['FINISHED', 'RUNNING', 'PENDING', 'FAILED', 'TIMEDOUT', 'CANCELLED']
            .filter((s) => s !== 'TIMEDOUT' || n(s) > 0)
            .filter((s) => s !== 'CANCELLED' || n(s) > 0)
            .map((s) => {
              const el = stat(`state-${s}`, s === 'PENDING' ? 'queued' : s.toLowerCase(), n(s), `state-${s}`);
              el.setAttribute('data-state', s);
              return el;
            }),
          stat('waiting', 'not started', n('INITIALIZED') + n('WAITING') + n('PREEMPTED')),
          stat('elapsed', 'elapsed', duration(d.elapsedMs)),
          stat('eta', 'ETA', d.state === 'RUNNING' ? duration(d.etaMs) : 'ended'),
          stat('rate', 'per minute', Math.round(d.ratePerSec * 60)),
        ),
        bar(c, d.total, true),
        h(
          'p',
          { class: 'muted legend' },
          `${d.final} of ${d.total} done · started ${when(d.startedAt)}${d.endedAt ? ` · ended ${when(d.endedAt)}` : ''}` +
            (d.source.kind === 'folder'
              ? ''
              : ` · queues ${d.queues.join(', ') || 'steps'}` +
                ` · throttle ${d.limits.throttle || 'none'} · attempts ${d.limits.attempts ?? 1}`),
        ),
        d.folder.readable
          ? null
          : h(
              'div',
              { class: 'notice' },
              `Names, workspaces, the DAG and error output need the study folder: ${d.folder.problem}`,
            ),
      );
    }

    // -- steps grouped by spec step, a bar each
    function renderSteps(d) {
      steps.replaceChildren(
        ...d.steps.map((s) => {
          const done =
            (s.counts.FINISHED || 0) + (s.counts.FAILED || 0) + (s.counts.TIMEDOUT || 0) + (s.counts.CANCELLED || 0);
          const deps = [...s.parents, ...s.funnelParents.map((p) => `${p}_*`)];
          return h(
            'div',
            { class: 'step', 'data-testid': 'step', 'data-step': s.name },
            h(
              'div',
              { class: 'row' },
              h('a', { class: 'name', href: '#', onclick: (e) => (e.preventDefault(), pickStep(s.name)) }, s.name),
              h('span', { class: 'muted' }, `${done} / ${s.total}`),
              deps.length ? h('span', { class: 'muted' }, `after ${deps.join(', ')}`) : null,
              h('span', { class: 'spacer' }),
              chips(s.counts),
            ),
            bar(s.counts, s.total),
          );
        }),
      );
    }

    // -- the DAG: dagre's layout from the server, drawn here
    async function loadGraph() {
      graph = null; // loading
      try {
        const g = await api(`studies/${enc}/graph`);
        if (stopped) return;
        graph = g;
        drawGraph(g);
        if (detail) paintGraph(detail);
      } catch (err) {
        graph = undefined;
        failed(dag, err);
      }
    }

    function drawGraph(g) {
      const root = svg('svg', {
        id: 'dag',
        viewBox: `0 0 ${Math.max(g.width, 10)} ${Math.max(g.height, 10)}`,
        role: 'img',
        'aria-label': 'step dependency graph',
      });
      root.style.maxHeight = `${Math.max(g.height, 120)}px`;
      const defs = svg(
        'defs',
        {},
        svg(
          'marker',
          {
            id: 'arrow',
            viewBox: '0 0 10 10',
            refX: 9,
            refY: 5,
            markerWidth: 7,
            markerHeight: 7,
            orient: 'auto-start-reverse',
          },
          svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#8b95a5' }),
        ),
      );
      root.append(defs);
      for (const e of g.edges) {
        if (e.points.length < 2) continue;
        const d = e.points.map((p, k) => `${k ? 'L' : 'M'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ');
        root.append(svg('path', { class: `edge${e.funnel ? ' funnel' : ''}`, d, 'marker-end': 'url(#arrow)' }));
      }
      for (const n of g.nodes) {
        const x = n.x - n.width / 2;
        const y = n.y - n.height / 2;
        const group = svg(
          'g',
          { class: 'node', 'data-step': n.name, transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})` },
          svg('rect', { class: 'box', width: n.width, height: n.height, rx: 7 }),
          svg('text', { class: 'name', x: 10, y: 19 }, n.name),
          svg('text', { class: 'count', x: 10, y: 36 }, ''),
          svg('g', { class: 'minibar', transform: `translate(10 ${n.height - 13})` }),
        );
        group.addEventListener('click', () => pickStep(n.name));
        root.append(group);
      }
      dag.replaceChildren(
        root,
        h(
          'p',
          { class: 'muted legend' },
          'Solid: one-to-one dependency. Dashed: funnel (waits for every instance). Click a step to list its instances.',
        ),
      );
    }

    function paintGraph(d) {
      const byName = new Map(d.steps.map((s) => [s.name, s]));
      for (const node of dag.querySelectorAll('g.node')) {
        const s = byName.get(node.getAttribute('data-step'));
        if (!s) continue;
        const box = node.querySelector('rect.box');
        const width = Number(box.getAttribute('width')) - 20;
        const c = s.counts;
        const done = (c.FINISHED || 0) + (c.FAILED || 0) + (c.TIMEDOUT || 0) + (c.CANCELLED || 0);
        const running = (c.RUNNING || 0) + (c.PENDING || 0);
        const failed = (c.FAILED || 0) + (c.TIMEDOUT || 0);
        node.querySelector('text.count').textContent =
          `${done}/${s.total} done${running ? ` · ${running} active` : ''}${failed ? ` · ${failed} failed` : ''}`;
        node.classList.toggle('active', running > 0);
        node.classList.toggle('failed', failed > 0);
        const mini = node.querySelector('g.minibar');
        mini.replaceChildren(svg('rect', { width, height: 5, rx: 2.5, fill: '#d5d9df' }));
        let x = 0;
        for (const st of orderedStates(c)) {
          if (!COLOURS[st]) continue;
          const w = s.total ? (width * c[st]) / s.total : 0;
          mini.append(svg('rect', { x: x.toFixed(1), width: w.toFixed(1), height: 5, fill: getColour(st) }));
          x += w;
        }
      }
    }

    // -- failures with their error output
    async function loadFailures() {
      try {
        const page = await api(`studies/${enc}/failures?offset=${failOffset}&limit=10&tail=15`);
        if (stopped) return;
        if (page.total === 0) {
          failures.replaceChildren(h('p', { class: 'muted' }, 'None.'));
          return;
        }
        failures.replaceChildren(
          ...page.items.map((f) =>
            h(
              'div',
              { class: `failure ${f.state}`, 'data-testid': 'failure', 'data-instance': f.name },
              h(
                'div',
                { class: 'row' },
                h('strong', {}, f.name),
                badge(f.state),
                f.upstream
                  ? null
                  : h(
                      'span',
                      {},
                      f.exitCode === null ? 'no exit code (killed by a signal)' : `exit code ${f.exitCode}`,
                    ),
                f.upstream
                  ? null
                  : h(
                      'span',
                      { class: 'muted' },
                      `attempt ${f.attempt}${f.restarts ? `, ${f.restarts} restarts` : ''}`,
                    ),
                f.worker ? h('span', { class: 'muted' }, `on ${f.worker}`) : null,
                f.endedAt ? h('span', { class: 'muted' }, `ended ${when(f.endedAt)}`) : null,
                h('span', { class: 'spacer' }),
                f.upstream ? null : jobLink(f.job),
              ),
              f.workspace ? h('div', { class: 'muted mono' }, f.workspace) : null,
              f.upstream ? h('p', { class: 'muted' }, 'Never ran: a step it depends on failed.') : errTail(f.err),
            ),
          ),
          pager(page, (o) => {
            failOffset = o;
            void loadFailures();
          }),
        );
      } catch (err) {
        failed(failures, err);
      }
    }

    // -- failures by parameter value: what stands out first, then a table per parameter
    async function loadByParam() {
      try {
        const r = await api(`studies/${enc}/by-param`);
        if (stopped) return;
        if (!r.available) {
          byParam.replaceChildren(h('p', { class: 'muted' }, `Not available: ${r.reason}.`));
          return;
        }
        if (r.withParams === 0) {
          byParam.replaceChildren(h('p', { class: 'muted' }, 'No instance of this study has parameters.'));
          return;
        }
        const headline = r.findings.length
          ? r.findings.map((f) => h('p', { class: 'finding', 'data-testid': 'finding' }, f))
          : [h('p', { class: 'muted' }, r.failed ? 'No parameter value stands out.' : 'No failures.')];
        byParam.replaceChildren(
          ...headline,
          ...Object.entries(r.params).map(([param, values]) =>
            h(
              'table',
              { 'data-testid': 'param-table', 'data-param': param },
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  h('th', {}, param),
                  ...['instances', 'finished', 'failed', 'active', 'other', 'median run'].map((c) =>
                    h('th', { class: 'num' }, c),
                  ),
                ),
              ),
              h(
                'tbody',
                {},
                values.map((v) =>
                  h(
                    'tr',
                    { 'data-value': v.value, class: v.failed ? 'has-failures' : '' },
                    h('td', { class: 'mono' }, v.value),
                    ...[v.instances, v.finished, v.failed, v.active, v.other].map((n) =>
                      h('td', { class: 'num' }, String(n)),
                    ),
                    h('td', { class: 'num' }, v.medianRunSeconds === null ? '--' : duration(v.medianRunSeconds * 1000)),
                  ),
                ),
              ),
            ),
          ),
        );
      } catch (err) {
        failed(byParam, err);
      }
    }

    function errTail(err) {
      if (!err) return h('p', { class: 'muted' }, 'Error output not readable here (no study folder).');
      if (err.problem) return h('p', { class: 'muted' }, `No error output (${err.problem}: ${err.file}).`);
      if (err.lines.length === 0) return h('p', { class: 'muted' }, 'The step wrote nothing to its standard error.');
      return h('pre', { class: 'err-tail', title: err.file }, `${err.truncated ? '…\n' : ''}${err.lines.join('\n')}`);
    }

    function jobLink(job) {
      if (detail && detail.source.kind === 'folder')
        return h('span', { class: 'job-missing' }, 'not known without Redis');
      if (!job) return h('span', { class: 'job-missing' }, 'never queued');
      if (!job.url) {
        return h(
          'span',
          {
            class: 'job-missing',
            title: `${job.id}: BullMQ removes a job once it completes; the instance's own record is kept here`,
          },
          'job removed from BullMQ',
        );
      }
      return h('a', { class: 'job-link', href: job.url, title: `${job.queue} / ${job.id}` }, `job ${job.state} ↗`);
    }

    // -- workers and allocations
    function renderWorkers(w) {
      const now = w.now;
      if (w.workers.length === 0) {
        workers.replaceChildren(
          h(
            'p',
            { class: 'muted' },
            detail && detail.source.kind === 'folder'
              ? 'Only Redis knows the workers; this view comes from the study folder.'
              : 'No worker has served this study yet, and none is listening on its queues.',
          ),
        );
        return;
      }
      workers.replaceChildren(
        ...renderQuarantined(w.quarantined || [], now),
        h(
          'table',
          { 'data-testid': 'allocations' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', {}, 'Allocation'),
              h('th', {}, 'Scheduler'),
              h('th', {}, 'Hosts'),
              h('th', { class: 'num' }, 'Workers'),
              h('th', { class: 'num' }, 'Slots'),
              h('th', { class: 'num' }, 'Running here'),
              h('th', { class: 'num' }, 'Time left'),
            ),
          ),
          h(
            'tbody',
            {},
            w.allocations.map((a) =>
              h(
                'tr',
                {},
                h('td', { class: 'mono' }, a.id),
                h('td', {}, a.scheduler || 'local'),
                h('td', {}, a.hosts.join(', ')),
                h('td', { class: 'num' }, `${a.alive} / ${a.workers}`),
                h('td', { class: 'num' }, a.slots),
                h('td', { class: 'num' }, a.running),
                h('td', { class: 'num' }, a.timeLeftMs === null ? 'no limit' : duration(a.timeLeftMs)),
              ),
            ),
          ),
        ),
        h('div', { class: 'legend' }),
        h(
          'table',
          { 'data-testid': 'worker-list' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', {}, 'Worker'),
              h('th', {}, 'State'),
              h('th', {}, 'Host'),
              h('th', { class: 'num' }, 'Running (here / all / slots)'),
              h('th', { class: 'num' }, 'Done'),
              h('th', {}, 'Last seen'),
              h('th', { class: 'num' }, 'Time left'),
            ),
          ),
          h(
            'tbody',
            {},
            w.workers.map((x) =>
              h(
                'tr',
                {},
                h('td', { class: 'mono' }, x.name),
                h(
                  'td',
                  {},
                  badge(x.state, x.state === 'running' ? 'RUNNING' : x.state === 'gone' ? 'CANCELLED' : 'PENDING'),
                ),
                h('td', {}, x.host, x.quarantined ? [' ', badge('quarantined', 'FAILED')] : []),
                h('td', { class: 'num' }, `${x.runningHere} / ${x.running ?? '-'} / ${x.slots ?? '-'}`),
                h('td', { class: 'num' }, x.done ?? '-'),
                h('td', {}, x.lastSeen ? `${duration(now - x.lastSeen)} ago` : '--'),
                h('td', { class: 'num' }, x.timeLeftMs === null ? 'no limit' : duration(x.timeLeftMs)),
              ),
            ),
          ),
        ),
      );
    }

    // Bad-node quarantine: the hosts and why (failures there against the rest of the fleet).
    function renderQuarantined(list, now) {
      if (list.length === 0) return [];
      const table = h(
        'table',
        { 'data-testid': 'quarantined' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', {}, 'Quarantined host'),
            h('th', {}, 'Since'),
            h('th', { class: 'num' }, 'Failed here'),
            h('th', { class: 'num' }, 'On steps OK elsewhere'),
            h('th', { class: 'num' }, 'Failed elsewhere'),
          ),
        ),
        h(
          'tbody',
          {},
          list.map((q) =>
            h(
              'tr',
              {},
              h('td', { class: 'mono' }, q.host),
              h('td', {}, `${duration(Math.max(0, now - q.sinceMs))} ago`),
              h('td', { class: 'num' }, `${q.failures} of ${q.runs}`),
              h('td', { class: 'num' }, q.failuresOnStepsOkElsewhere),
              h('td', { class: 'num' }, `${q.failuresElsewhere} of ${q.runsElsewhere}`),
            ),
          ),
        ),
      );
      return [table, h('div', { class: 'legend' })];
    }

    // -- instances: filters and pages
    function pickStep(name) {
      filter.step = name;
      filter.offset = 0;
      void loadInstances();
      instances.scrollIntoView({ behavior: 'smooth', block: 'start' });
    }

    async function loadInstances() {
      const q = new URLSearchParams({ offset: String(filter.offset), limit: String(PAGE) });
      if (filter.step) q.set('step', filter.step);
      if (filter.state) q.set('state', filter.state);
      try {
        const page = await api(`studies/${enc}/instances?${q}`);
        if (stopped) return;
        renderInstances(page);
      } catch (err) {
        failed(instances, err);
      }
    }

    function renderInstances(page) {
      const stepSelect = h(
        'select',
        {
          'aria-label': 'step',
          onchange: (e) => {
            filter.step = e.target.value;
            filter.offset = 0;
            void loadInstances();
          },
        },
        h('option', { value: '' }, 'every step'),
        (detail ? detail.steps : []).map((s) =>
          h('option', { value: s.name, selected: s.name === filter.step }, s.name),
        ),
      );
      const stateSelect = h(
        'select',
        {
          'aria-label': 'state',
          onchange: (e) => {
            filter.state = e.target.value;
            filter.offset = 0;
            void loadInstances();
          },
        },
        [
          ['', 'every state'],
          ['RUNNING', 'running'],
          ['PENDING', 'queued'],
          ['FAILED,TIMEDOUT', 'failed or timed out'],
          ['FINISHED', 'finished'],
          ['INITIALIZED,WAITING,PREEMPTED', 'not started'],
          ['CANCELLED', 'cancelled'],
        ].map(([v, label]) => h('option', { value: v, selected: v === filter.state }, label)),
      );
      instances.replaceChildren(
        h('div', { class: 'row' }, stepSelect, stateSelect, h('span', { class: 'muted' }, `${page.total} matching`)),
        h(
          'table',
          { 'data-testid': 'instance-list' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', {}, 'Instance'),
              h('th', {}, 'State'),
              h('th', { class: 'num' }, 'Exit'),
              h('th', { class: 'num' }, 'Attempt'),
              h('th', {}, 'Worker'),
              h('th', {}, 'Started'),
              h('th', { class: 'num' }, 'Run time'),
              h('th', {}, 'Parameters'),
              h('th', {}, 'BullMQ job'),
            ),
          ),
          h(
            'tbody',
            {},
            page.items.map((i) =>
              h(
                'tr',
                { 'data-testid': 'instance', 'data-instance': i.name, 'data-state': i.state },
                h('td', { class: 'mono' }, i.name),
                h('td', {}, badge(i.state)),
                h('td', { class: 'num' }, i.exitCode ?? ''),
                h('td', { class: 'num' }, i.attempt),
                h('td', { class: 'mono' }, i.worker || ''),
                h('td', {}, when(i.startedAt)),
                h(
                  'td',
                  { class: 'num' },
                  i.startedAt ? duration((i.endedAt || Date.now() + clockOffset) - i.startedAt) : '',
                ),
                h(
                  'td',
                  { class: 'mono' },
                  Object.entries(i.params)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(' '),
                ),
                h('td', {}, jobLink(i.job)),
              ),
            ),
          ),
        ),
        pager(page, (o) => {
          filter.offset = o;
          void loadInstances();
        }),
      );
    }

    return () => {
      stopped = true;
      source.close();
      clearInterval(tick);
      clearTimeout(refreshTimer);
      clearTimeout(workersTimer);
    };
  }

  function pager(page, go) {
    if (page.total <= page.limit) return h('div');
    const last = Math.max(0, Math.floor((page.total - 1) / page.limit) * page.limit);
    return h(
      'div',
      { class: 'pager' },
      h('button', { disabled: page.offset === 0, onclick: () => go(0) }, '« first'),
      h(
        'button',
        { disabled: page.offset === 0, onclick: () => go(Math.max(0, page.offset - page.limit)) },
        '‹ previous',
      ),
      h(
        'span',
        { class: 'muted' },
        `${page.offset + 1}–${Math.min(page.total, page.offset + page.limit)} of ${page.total}`,
      ),
      h('button', { disabled: page.offset >= last, onclick: () => go(page.offset + page.limit) }, 'next ›'),
      h('button', { disabled: page.offset >= last, onclick: () => go(last) }, 'last »'),
    );
  }

  function getColour(state) {
    const v = COLOURS[state] || 'var(--s-waiting)';
    const m = /var\((--[\w-]+)\)/.exec(v);
    return m ? getComputedStyle(document.documentElement).getPropertyValue(m[1]).trim() : v;
  }

  route();
})();
