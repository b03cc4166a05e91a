"""Inline CSS and JS of the report page (Python strings, so the page needs no package data, no
server and no network). The JS only ever writes record text through ``textContent``: answers are
arbitrary model output and must never become markup.
"""

CSS = r"""
:root { --fg:#1d232b; --muted:#5b6573; --line:#d9dee5; --bg:#f6f7f9; --lc:#3b6fb6; --rag:#e07b39;
        --ok:#1f7a3d; --bad:#b42318; --warn:#9a6700; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0; background: #fff; }
header { padding: 18px 28px 8px; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 2px 0; color: var(--muted); }
nav { padding: 6px 28px; border-bottom: 1px solid var(--line); background: var(--bg); }
nav a { margin-right: 14px; color: var(--lc); text-decoration: none; }
#filters { position: sticky; top: 0; z-index: 5; background: #fff; padding: 8px 28px;
           border-bottom: 1px solid var(--line); display: flex; flex-wrap: wrap; gap: 10px; align-items: center; }
#filters label { font-size: 12px; color: var(--muted); }
#filters select, #filters input { font-size: 13px; padding: 2px 4px; margin-left: 3px; max-width: 260px; }
main { padding: 0 28px 40px; }
section { margin-top: 26px; }
section h2 { font-size: 18px; margin: 0 0 6px; border-bottom: 2px solid var(--line); padding-bottom: 3px; }
.note { color: var(--muted); font-size: 12.5px; margin: 4px 0 8px; max-width: 1000px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 10px; }
th, td { border: 1px solid var(--line); padding: 3px 7px; vertical-align: top; }
th { background: var(--bg); text-align: left; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.wrap { max-width: 420px; overflow-wrap: anywhere; }
td.model { max-width: 260px; overflow-wrap: anywhere; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th.asc::after { content: " ▲"; font-size: 10px; }
table.sortable th.desc::after { content: " ▼"; font-size: 10px; }
tr.gap td { background: #fbf6ee; font-style: italic; }
td.pos { color: var(--lc); } td.neg { color: var(--rag); }
tbody tr:nth-child(even) td { background: #fafbfc; }
tr.clickable { cursor: pointer; } tr.clickable:hover td { background: #eef3fb; }
.lab-correct { color: var(--ok); font-weight: 600; } .lab-incorrect { color: var(--bad); font-weight: 600; }
.lab-unparsed, .lab-error, .lab-skipped { color: var(--warn); font-weight: 600; }
img.plot { max-width: 100%; border: 1px solid var(--line); margin: 6px 0; }
button { font-size: 12.5px; padding: 2px 8px; cursor: pointer; }
dialog { width: min(1000px, 94vw); max-height: 88vh; border: 1px solid var(--line); border-radius: 6px;
         padding: 0; box-shadow: 0 8px 40px rgba(0,0,0,.25); }
dialog .head { position: sticky; top: 0; background: var(--bg); padding: 8px 14px;
               border-bottom: 1px solid var(--line); display: flex; justify-content: space-between; }
dialog .body { padding: 6px 14px 16px; }
.drill-card { border: 1px solid var(--line); border-radius: 5px; padding: 6px 10px; margin: 8px 0; }
.drill-card h3 { margin: 2px 0 6px; font-size: 15px; }
.kv { display: grid; grid-template-columns: 150px 1fr; gap: 3px 10px; }
.kv > div:nth-child(odd) { color: var(--muted); font-size: 12.5px; }
.kv pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font: 12.5px/1.4 ui-monospace, monospace;
          background: var(--bg); padding: 3px 6px; border-radius: 3px; }
.counts { color: var(--muted); font-size: 12.5px; }
#headlines { margin: 6px 0 2px; padding-left: 18px; font-size: 13.5px; }
#headlines li { margin: 1px 0; }
.warn { color: var(--warn); font-size: 12.5px; }
details > summary { cursor: pointer; color: var(--lc); margin: 4px 0; }
tr.overall td { font-weight: 600; }
h3.sub { margin-bottom: 2px; }
#samples .scroll { max-height: 75vh; overflow-y: auto; }
"""

JS = r"""
(function () {
  'use strict';
  const DATA = JSON.parse(document.getElementById('lara-data').textContent);
  const S = DATA.samples;
  const FIELDS = ['task', 'category', 'length', 'model', 'runner'];
  const PAGE = 200;
  let shown = PAGE;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function filters() {
    const f = {};
    document.querySelectorAll('#filters select[data-filter]').forEach(s => { if (s.value) f[s.dataset.filter] = s.value; });
    return f;
  }
  function applyRowFilters() {
    // a row without an attribute is not narrowed by it; a tab joins several values (a gap row
    // stands for both runners); a header cell with data-category hides its column for another category
    const f = filters();
    document.querySelectorAll('table.filterable tbody tr').forEach(tr => {
      let ok = true;
      for (const k in f) {
        const v = tr.getAttribute('data-' + k);
        if (v !== null && !v.split('\t').includes(f[k])) { ok = false; break; }
      }
      tr.hidden = !ok;
    });
    document.querySelectorAll('table.filterable').forEach(t => {
      const heads = Array.from(t.tHead ? t.tHead.rows[0].cells : []);
      heads.forEach((th, i) => {
        const c = th.getAttribute('data-category');
        if (c === null) return;
        const hide = !!f.category && c !== f.category;
        th.hidden = hide;
        Array.from(t.tBodies[0].rows).forEach(r => { if (r.cells[i]) r.cells[i].hidden = hide; });
      });
    });
  }
  function sampleMatches(s, f, outcome, text) {
    for (const k in f) if (String(s[k]) !== f[k]) return false;
    if (outcome && s.label !== outcome) return false;
    if (text) {
      const hay = (s.id + ' ' + s.q + ' ' + (s.a || '') + ' ' + s.refs.join(' ')).toLowerCase();
      if (!hay.includes(text)) return false;
    }
    return true;
  }
  function fmt(v, d) { return (v === null || v === undefined) ? '–' : Number(v).toFixed(d); }
  function renderSamples() {
    const f = filters();
    const outcome = document.getElementById('f-outcome').value;
    const text = document.getElementById('f-text').value.trim().toLowerCase();
    const body = document.querySelector('#samples-table tbody');
    body.replaceChildren();
    const hits = S.filter(s => sampleMatches(s, f, outcome, text));
    hits.slice(0, shown).forEach(s => {
      const tr = el('tr', 'clickable');
      tr.dataset.idx = s.i;
      [s.run_short, s.category, s.length, s.id].forEach(v => tr.appendChild(el('td', '', v)));
      tr.appendChild(el('td', 'wrap', s.q));
      tr.appendChild(el('td', 'wrap', s.a === null ? '(no answer)' : s.a.slice(0, 200)));
      tr.appendChild(el('td', 'num', fmt(s.score, 2)));
      tr.appendChild(el('td', 'lab-' + s.label, s.label));
      body.appendChild(tr);
    });
    document.getElementById('samples-count').textContent =
      hits.length + ' of ' + S.length + ' samples match' + (hits.length > shown ? ' (showing ' + shown + ')' : '');
    document.getElementById('samples-more').hidden = hits.length <= shown;
  }
  function kv(grid, key, value, pre) {
    grid.appendChild(el('div', '', key));
    const cell = el('div');
    if (pre) cell.appendChild(el('pre', '', value)); else cell.textContent = value;
    grid.appendChild(cell);
  }
  function card(s) {
    const c = el('div', 'drill-card');
    c.appendChild(el('h3', '', s.runner + ' · ' + s.model_short + ' · ' + s.id));
    const g = el('div', 'kv');
    kv(g, 'run', s.run);
    kv(g, 'task / category', s.task + ' / ' + s.category + ' / ' + s.length + (s.ctype ? ' / ' + s.ctype : ''));
    kv(g, 'question', s.q, true);
    kv(g, 'answer', s.a === null ? '(no answer)' : s.a, true);
    kv(g, 'reference' + (s.refs.length > 1 ? 's' : ''), s.refs.join('\n— '), true);
    kv(g, 'score', fmt(s.score, 3) + '  (' + (s.sname || '–') + ', ' + s.label + ')');
    kv(g, 'explanation', s.expl || '–', true);
    Object.keys(s.scores).forEach(n => {
      if (n === s.sname) return;
      const o = s.scores[n];
      kv(g, 'score ' + n, fmt(o.value, 3) + ' · ' + o.status + (o.explanation ? ' · ' + o.explanation : ''), true);
    });
    const ret = s.ret.length ? s.ret.map((r, k) => '#' + (k + 1) + (r.query ? ' [' + r.query + ']' : '') + ': ' + r.ids.join(', ')).join('\n') : '(none: no retrieval step)';
    kv(g, 'retrieved chunks', ret, true);
    kv(g, 'cost', s.in_tok + ' input tokens · ' + s.calls + ' calls · effective context ' + s.eff);
    if (s.trunc) kv(g, 'truncation', s.trunc);
    if (s.err) kv(g, 'error', s.err, true);
    c.appendChild(g);
    return c;
  }
  function openDrill(indices) {
    const d = document.getElementById('drill');
    const body = d.querySelector('.body');
    body.replaceChildren();
    indices.forEach(i => body.appendChild(card(S[i])));
    d.querySelector('.title').textContent = indices.length > 1 ? 'Compare ' + indices.length + ' answers' : 'Sample detail';
    if (!d.open) d.showModal();
  }
  function sortTable(th) {
    const table = th.closest('table');
    const idx = Array.from(th.parentNode.children).indexOf(th);
    const asc = !th.classList.contains('asc');
    table.querySelectorAll('th').forEach(h => h.classList.remove('asc', 'desc'));
    th.classList.add(asc ? 'asc' : 'desc');
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const key = r => {
      const c = r.cells[idx];
      const v = c ? (c.dataset.v !== undefined ? c.dataset.v : c.textContent) : '';
      const n = parseFloat(v);
      return (v !== '' && !isNaN(n) && isFinite(v)) ? n : v.toLowerCase();
    };
    rows.sort((a, b) => {
      const x = key(a), y = key(b);
      const xn = typeof x === 'number', yn = typeof y === 'number';
      let c;
      if (xn && yn) c = x - y; else if (xn) c = -1; else if (yn) c = 1; else c = x < y ? -1 : x > y ? 1 : 0;
      return asc ? c : -c;
    });
    rows.forEach(r => body.appendChild(r));
  }
  document.querySelectorAll('table.sortable th').forEach(th => th.addEventListener('click', () => sortTable(th)));
  document.querySelectorAll('#filters select, #f-outcome').forEach(s => s.addEventListener('change', () => {
    shown = PAGE; applyRowFilters(); renderSamples();
  }));
  document.getElementById('f-text').addEventListener('input', () => { shown = PAGE; renderSamples(); });
  document.getElementById('f-reset').addEventListener('click', () => {
    document.querySelectorAll('#filters select, #f-outcome').forEach(s => { s.value = ''; });
    document.getElementById('f-text').value = '';
    shown = PAGE; applyRowFilters(); renderSamples();
  });
  document.getElementById('samples-more').addEventListener('click', () => { shown += PAGE * 5; renderSamples(); });
  document.querySelector('#samples-table tbody').addEventListener('click', e => {
    const tr = e.target.closest('tr'); if (tr) openDrill([Number(tr.dataset.idx)]);
  });
  document.querySelectorAll('tr[data-drill]').forEach(tr => tr.addEventListener('click', () =>
    openDrill(tr.dataset.drill.split(',').map(Number))));
  document.querySelectorAll('button[data-show]').forEach(b => b.addEventListener('click', e => {
    e.stopPropagation();
    const tr = b.closest('tr');
    FIELDS.forEach(k => {
      const s = document.querySelector('#filters select[data-filter="' + k + '"]');
      const v = tr.getAttribute('data-' + k);
      if (s) s.value = (v !== null && v !== '-' && !v.includes('\t')) ? v : '';
    });
    shown = PAGE; applyRowFilters(); renderSamples();
    document.getElementById('samples').scrollIntoView();
  }));
  document.getElementById('drill-close').addEventListener('click', () => document.getElementById('drill').close());
  renderSamples();
})();
"""
