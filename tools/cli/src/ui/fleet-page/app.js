// The fleet page: renders the server's snapshots (GET /api/stream, server-sent events) and
// shows a task's events on click (GET /api/tasks/:id). Plain browser JavaScript, no build
// step, nothing loaded from elsewhere. Every text from the fleet goes in as textContent:
// class names, reasons and errors come from outside (the Runner API among them).

// spanMs null: fit the span to the tasks shown (at least 20 s, at most the window).
const state = { snap: null, skewMs: 0, spanMs: null, selected: null, streamOpen: false };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'style') Object.assign(node.style, v);
    else if (k.startsWith('data-')) node.setAttribute(k, String(v));
    else node[k] = v;
  }
  for (const c of children) if (c !== undefined && c !== null) node.append(c);
  return node;
}

const msText = (ms) =>
  ms === null || ms === undefined
    ? '–'
    : ms < 1000
      ? `${ms} ms`
      : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
const shortId = (id) => (id.length <= 9 ? id : `${id.slice(0, 8)}…`);
const nowMs = () => Date.now() - state.skewMs;
const t = (iso) => (iso === null || iso === undefined ? null : Date.parse(iso));

function connect() {
  const source = new EventSource('api/stream');
  source.addEventListener('open', () => {
    state.streamOpen = true;
    showConnection();
  });
  source.addEventListener('error', () => {
    // EventSource reconnects by itself; say so meanwhile.
    state.streamOpen = false;
    showConnection();
  });
  source.addEventListener('snapshot', (e) => {
    const snap = JSON.parse(e.data);
    state.snap = snap;
    state.skewMs = Date.now() - Date.parse(snap.now);
    render();
  });
}

/** The header's badge: live, the page's server away, or the server's bus away. */
function showConnection() {
  const badge = document.getElementById('connection');
  const [text, on] = !state.streamOpen
    ? ['reconnecting…', false]
    : state.snap && !state.snap.bus.connected
      ? ['bus lost: showing what was read before', false]
      : ['live', true];
  badge.textContent = text;
  badge.className = `badge ${on ? 'on' : 'off'}`;
  badge.dataset.state = on ? 'live' : state.streamOpen ? 'bus-lost' : 'reconnecting';
}

function render() {
  const snap = state.snap;
  if (!snap) return;
  showConnection();
  const m = snap.metrics;
  document.getElementById('meta').textContent =
    `window ${Math.round(snap.window_ms / 60_000)} min · ${snap.events_seen} events read · ` +
    (m.sources === 0
      ? 'no /metrics given (in flight from the bus)'
      : `/metrics: ${m.answering} of ${m.sources} answering`);
  renderClasses(snap.classes);
  renderTimeline();
  renderPools(snap.pools);
}

function renderClasses(classes) {
  const body = document.querySelector('#classes tbody');
  body.replaceChildren(
    ...classes.map((c) => {
      const stage = (name) => {
        const s = c.stages.find((x) => x.stage === name);
        return el(
          'td',
          { class: 'num', title: s ? `${s.count} tasks` : '' },
          s && s.count > 0 ? `${msText(s.p50_ms)} / ${msText(s.p99_ms)}` : '–',
        );
      };
      const endings = Object.entries(c.endings)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ');
      const machine = c.kind === 'machine';
      return el(
        'tr',
        {
          'data-resource-class': c.resource_class,
          'data-claiming': machine ? 'vm' : c.claiming ? 'on' : 'off',
        },
        el('td', {}, c.resource_class),
        el(
          'td',
          {},
          machine
            ? el(
                'span',
                {
                  class: 'badge vm',
                  title: 'a machine class: the runners in its VM pool claim, not Longshore',
                },
                'VMs claim',
              )
            : el(
                'span',
                { class: `badge ${c.claiming ? 'on' : 'off'}` },
                c.claiming ? 'claiming' : 'not claiming',
              ),
          ...c.why.map((w) => el('div', { class: 'why' }, w)),
        ),
        el(
          'td',
          {
            class: 'num',
            title:
              c.in_flight_source === 'metrics'
                ? "from the claimers' /metrics"
                : 'claimed and not ended, on the bus',
          },
          `${c.in_flight} / ${c.cap ?? '?'}`,
        ),
        el(
          'td',
          {
            class: 'num',
            title: c.queue
              ? `at ${c.queue.at}; running ${c.queue.running}`
              : 'not known: only the vm-scaler polls a queue',
          },
          c.queue ? String(c.queue.unclaimed) : '–',
        ),
        stage('pod_created'),
        stage('running'),
        stage('ended'),
        stage('end_to_end'),
        el('td', {}, el('span', { class: 'endings' }, endings || '–')),
        el('td', { class: 'num' }, String(c.retries)),
        el('td', { class: 'num' }, String(c.dropped)),
      );
    }),
  );
  document.getElementById('no-classes').hidden = classes.length > 0;
}

/** The coloured pieces of one attempt, from its times; what has not ended runs to now. */
function segments(a, now) {
  const marks = [
    ['queued', t(a.queued_at)],
    ['claimed', t(a.claimed_at)],
    ['pod-created', t(a.pod_created_at)],
    ['running', t(a.running_at)],
  ].filter(([, at]) => at !== null);
  const end = t(a.ended_at);
  const out = [];
  for (let i = 0; i < marks.length; i++) {
    const [kind, from] = marks[i];
    const to = i + 1 < marks.length ? marks[i + 1][1] : (end ?? now);
    out.push({ kind, from, to });
  }
  if (end !== null && a.ending)
    out.push({
      kind: `end ${a.ending.event}`,
      from: end,
      to: end,
      title: `${a.ending.event}: ${a.ending.reason}`,
    });
  return out;
}

/** The first time a task shows on the timeline. */
function startOf(task) {
  const a = task.attempts[0];
  return t(
    a?.queued_at ?? a?.claimed_at ?? a?.pod_created_at ?? a?.running_at ?? a?.ended_at ?? task.last_at,
  );
}

/** The span shown: the one chosen, or one that fits what there is (a tenth to spare). */
function spanMs(now, earliest) {
  if (state.spanMs !== null) return state.spanMs;
  const window = state.snap.window_ms;
  if (earliest === null) return Math.min(300_000, window);
  return Math.min(window, Math.max(20_000, (now - earliest) * 1.1));
}

function renderTimeline() {
  const snap = state.snap;
  if (!snap) return;
  const now = nowMs();
  const earliest = snap.tasks.length === 0 ? null : Math.min(...snap.tasks.map(startOf));
  const span = spanMs(now, earliest);
  const from = now - span;
  const x = (ms) => `${(Math.max(0, Math.min(1, (ms - from) / span)) * 100).toFixed(3)}%`;
  const visible = snap.tasks.filter((task) => t(task.last_at) >= from || task.stage !== 'ended');

  const ticks = [];
  const step = span / 5;
  for (let i = 0; i <= 5; i++) {
    const at = from + i * step;
    const secondsAgo = Math.round((now - at) / 1000);
    ticks.push(
      el(
        'span',
        { class: 'tick', style: { left: x(at) } },
        secondsAgo === 0
          ? 'now'
          : `-${secondsAgo >= 60 ? `${(secondsAgo / 60).toFixed(secondsAgo % 60 ? 1 : 0)}m` : `${secondsAgo}s`}`,
      ),
    );
  }
  document.getElementById('axis').replaceChildren(el('span'), el('span', { class: 'ticks' }, ...ticks));

  document.getElementById('timeline').replaceChildren(
    ...visible.map((task) => {
      const track = el('div', { class: 'track' });
      for (const [i, a] of task.attempts.entries()) {
        const segs = segments(a, now);
        // Released for another attempt that no runner has claimed yet: back in the queue, now.
        const last = i === task.attempts.length - 1;
        if (last && a.ending?.to_retry && a.ended_at)
          // (under its ending's mark, which stays last)
          segs.splice(segs.length - 1, 0, {
            kind: 'queued',
            from: t(a.ended_at),
            to: now,
            title: 'queued again for a retry',
          });
        if (a.attempt > 1 && segs.length > 0)
          track.append(el('span', { class: 'attempt', style: { left: x(segs[0].from) } }, `#${a.attempt}`));
        for (const s of segs) {
          if (s.to < from) continue;
          const left = x(s.from);
          const width = `calc(${x(s.to)} - ${left})`;
          track.append(
            el('span', {
              class: `seg ${s.kind}`,
              style: s.kind.startsWith('end') ? { left } : { left, width },
              title: s.title ?? `#${a.attempt} ${s.kind} ${new Date(s.from).toISOString().slice(11, 23)}`,
            }),
          );
        }
      }
      const row = el(
        'div',
        {
          class: `row${state.selected === task.task_id ? ' selected' : ''}`,
          'data-task-id': task.task_id,
          'data-stage': task.stage,
          title: `${task.task_id} (${task.resource_class}): ${task.stage}`,
        },
        el(
          'span',
          { class: 'label' },
          `${shortId(task.task_id)} `,
          el('span', { class: 'rc' }, `${task.resource_class} · ${task.stage}`),
        ),
        track,
      );
      row.addEventListener('click', () => showTask(task.task_id));
      return row;
    }),
  );
  document.getElementById('no-tasks').hidden = visible.length > 0;
}

function chart(pool, now, from) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 300 90');
  svg.setAttribute('preserveAspectRatio', 'none');
  const series = [pool.desired_series, pool.ready_series];
  const top = Math.max(1, ...series.flat().map(([, v]) => v));
  const y = (v) => 84 - (v / top) * 76;
  const x = (ms) => Math.max(0, Math.min(300, ((ms - from) / (now - from)) * 300));
  const path = (points, cls) => {
    if (points.length === 0) return;
    let d = `M ${x(points[0][0]).toFixed(1)} ${y(points[0][1]).toFixed(1)}`;
    for (let i = 1; i < points.length; i++)
      d += ` H ${x(points[i][0]).toFixed(1)} V ${y(points[i][1]).toFixed(1)}`;
    d += ` H 300`;
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', d);
    p.setAttribute('class', cls);
    svg.append(p);
  };
  path(pool.desired_series, 'desired');
  path(pool.ready_series, 'ready');
  const label = document.createElementNS(ns, 'text');
  label.setAttribute('x', '4');
  label.setAttribute('y', '12');
  label.setAttribute('font-size', '10');
  label.setAttribute('fill', '#667085');
  label.textContent = `max ${top}`;
  svg.append(label);
  return svg;
}

function renderPools(pools) {
  const section = document.getElementById('pools-section');
  section.hidden = pools.length === 0;
  const now = nowMs();
  const points = pools.flatMap((p) => [...p.desired_series, ...p.ready_series]).map(([at]) => at);
  const from = now - spanMs(now, points.length === 0 ? null : Math.min(...points));
  document
    .getElementById('pools')
    .replaceChildren(
      ...pools.map((p) =>
        el(
          'div',
          { class: 'pool', 'data-resource-class': p.resource_class },
          el('h3', {}, `${p.resource_class} · ${p.namespace}/${p.pool}`),
          el(
            'div',
            { class: 'summary' },
            `desired ${p.desired} · ready ${p.ready ?? '? (no vm-scaler /metrics)'} · queue ${p.unclaimed} unclaimed, ${p.running} running`,
          ),
          el(
            'div',
            { class: 'chart' },
            chart(p, now, from),
            el(
              'ul',
              { class: 'legend' },
              el('li', {}, el('i', { class: 'line desired' }), 'desired'),
              el('li', {}, el('i', { class: 'line ready' }), 'ready'),
            ),
          ),
          el(
            'div',
            {},
            el('div', { class: 'quiet' }, "the scaler's last decisions that changed the pool"),
            el('pre', { class: 'decisions' }, p.decisions.join('\n')),
          ),
        ),
      ),
    );
}

async function showTask(id) {
  state.selected = id;
  const aside = document.getElementById('details');
  document.getElementById('details-title').textContent = `Task ${id}`;
  const pre = document.getElementById('details-events');
  pre.textContent = 'loading…';
  aside.hidden = false;
  renderTimeline();
  try {
    const res = await fetch(`api/tasks/${encodeURIComponent(id)}`);
    const body = await res.json();
    if (state.selected !== id) return;
    pre.textContent = res.ok ? body.lines.join('\n') : body.error;
  } catch (err) {
    pre.textContent = `could not read its events: ${err.message}`;
  }
}

document.getElementById('details-close').addEventListener('click', () => {
  state.selected = null;
  document.getElementById('details').hidden = true;
  renderTimeline();
});
for (const b of document.querySelectorAll('#span button'))
  b.addEventListener('click', () => {
    state.spanMs = b.dataset.span === 'fit' ? null : Number(b.dataset.span);
    for (const o of document.querySelectorAll('#span button')) o.classList.toggle('on', o === b);
    renderTimeline();
  });
// Running segments grow between snapshots.
setInterval(renderTimeline, 1000);
connect();
