// app.js: the connections table (live from /api/events), the selection and
// the detail view (ladder, plots, trace, exports) of one connection. The
// API is described in stack/ui's documentation; every URL is relative to
// the page, so a library user may mount the handler under any prefix.
'use strict';
(function (TS) {
  const num = (a, b) => (a === undefined ? -Infinity : a) - (b === undefined ? -Infinity : b);
  const str = (a, b) => String(a || '').localeCompare(String(b || ''), undefined, { numeric: true });
  const us = (v) => (v === undefined ? '–' : TS.ms(v / 1000));
  const plainNum = (v) => (v === undefined ? '–' : String(v));
  const win = (v) => (v === undefined ? '–' : v >= TS.INF ? '∞' : TS.bytes(v));

  // COLS are the table's columns: like `ss -ti`.
  const COLS = [
    { key: 'id', label: 'id', cmp: str },
    { key: 'local', label: 'local', cmp: str },
    { key: 'remote', label: 'remote', cmp: str },
    { key: 'state', label: 'state', cmp: str },
    { key: 'srttUs', label: 'SRTT', fmt: us },
    { key: 'rttvarUs', label: 'RTTVAR', fmt: us },
    { key: 'rtoMs', label: 'RTO', fmt: (v) => (v === undefined ? '–' : TS.ms(v)) },
    { key: 'cwnd', label: 'cwnd', fmt: win },
    { key: 'ssthresh', label: 'ssthresh', fmt: win },
    { key: 'inFlight', label: 'in flight', fmt: win },
    { key: 'sndWnd', label: 'snd wnd', fmt: win },
    { key: 'rcvWnd', label: 'rcv wnd', fmt: win },
    { key: 'bytesSent', label: 'sent', fmt: TS.bytes },
    { key: 'bytesRecv', label: 'received', fmt: TS.bytes },
    { key: 'retransmits', label: 'retrans', fmt: plainNum },
    { key: 'fastRecoveries', label: 'fast rec.', fmt: plainNum },
    { key: 'rtoExpiries', label: 'RTO exp.', fmt: plainNum },
    { key: 'cc', label: 'cc', cmp: str },
    { key: 'started', label: 'started', cmp: str, fmt: (v) => (v ? new Date(v).toLocaleTimeString() : '–') },
  ];

  const st = {
    rows: new Map(),   // id -> ConnRow
    got: 0,            // performance.now() when rows arrived (TIME-WAIT countdown)
    trs: new Map(),    // id -> <tr>
    sort: { key: 'started', dir: -1 },
    filter: '',
    showClosed: true,
    selected: null,
    detail: null,
    expanded: new Set(),
    fetching: false,
    refetch: false,
    lastFetch: 0,
  };
  const $ = (id) => document.getElementById(id);

  function status(text, bad) {
    $('status').textContent = text;
    $('status').classList.toggle('bad', !!bad);
  }

  // header builds the column headers once: a button in each sorts by it.
  function header() {
    const tr = document.querySelector('#conns thead tr');
    for (const c of COLS) {
      const th = TS.html('th', { scope: 'col', 'data-key': c.key }, tr);
      const b = TS.html('button', { type: 'button', class: 'sort' }, th, c.label);
      b.addEventListener('click', function () {
        st.sort = { key: c.key, dir: st.sort.key === c.key ? -st.sort.dir : 1 };
        render();
      });
    }
  }

  function sortMarks() {
    for (const th of document.querySelectorAll('#conns thead th')) {
      const active = st.sort.key === th.dataset.key;
      th.setAttribute('aria-sort', active ? (st.sort.dir > 0 ? 'ascending' : 'descending') : 'none');
    }
  }

  // twLeft is a TIME-WAIT record's remaining 2MSL now, counted down locally
  // from the server's value.
  function twLeft(row) {
    return Math.max(0, row.timeWaitLeftMs - (performance.now() - st.got));
  }

  function stateText(row) {
    if (row.timeWaitLeftMs !== undefined && row.state === 'TIME-WAIT') {
      return 'TIME-WAIT ' + (twLeft(row) / 1000).toFixed(1) + ' s';
    }
    return row.state + (row.closed && row.state !== 'CLOSED' ? ' (closed)' : '');
  }

  function matches(row) {
    if (!st.showClosed && row.closed) return false;
    if (!st.filter) return true;
    const hay = [row.id, row.local, row.remote, row.state, row.cc].join(' ').toLowerCase();
    return st.filter.split(/\s+/).every((w) => hay.includes(w));
  }

  function rowFor(row) {
    let tr = st.trs.get(row.id);
    if (!tr) {
      tr = TS.html('tr', { 'data-conn-id': row.id });
      COLS.forEach(function (c, i) {
        const td = TS.html(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row' } : { 'data-key': c.key }, tr);
        if (i === 0) {
          const b = TS.html('button', { type: 'button', class: 'select', 'aria-pressed': 'false' }, td, row.id);
          b.setAttribute('aria-label', 'show connection ' + row.id);
        }
      });
      tr.addEventListener('click', function () { select(row.id); });
      st.trs.set(row.id, tr);
    }
    return tr;
  }

  function fillRow(tr, row) {
    tr.classList.toggle('closed', !!row.closed);
    tr.classList.toggle('timewait', row.state === 'TIME-WAIT');
    tr.classList.toggle('selected', row.id === st.selected);
    tr.dataset.state = row.state;
    tr.querySelector('button.select').setAttribute('aria-pressed', String(row.id === st.selected));
    COLS.forEach(function (c, i) {
      if (i === 0) return;
      const td = tr.children[i];
      const v = c.key === 'state' ? stateText(row) : c.fmt ? c.fmt(row[c.key]) : (row[c.key] === undefined ? '–' : String(row[c.key]));
      if (td.textContent !== v) td.textContent = v;
    });
  }

  // render brings the table in line with st.rows: rows updated in place,
  // then put in order (moving only when the order changed, so focus stays).
  function render() {
    sortMarks();
    const col = COLS.find((c) => c.key === st.sort.key) || COLS[0];
    const cmp = col.cmp || num;
    const list = [...st.rows.values()].filter(matches);
    list.sort((a, b) => st.sort.dir * cmp(a[col.key], b[col.key]) || str(a.id, b.id));
    const tbody = document.querySelector('#conns tbody');
    for (const [id, tr] of st.trs) {
      if (!st.rows.has(id)) { tr.remove(); st.trs.delete(id); }
    }
    const want = list.map(rowFor);
    list.forEach((row, i) => fillRow(want[i], row));
    const have = [...tbody.children];
    if (have.length !== want.length || have.some((tr, i) => tr !== want[i])) {
      for (const tr of have) if (!want.includes(tr)) tr.remove();
      want.forEach((tr) => tbody.appendChild(tr));
    }
    $('conns-empty').hidden = st.rows.size > 0;
  }

  function changed(a, b) {
    if (!a || !b) return true;
    for (const k of ['state', 'closed', 'bytesSent', 'bytesRecv', 'retransmits', 'cwnd', 'inFlight']) {
      if (a[k] !== b[k]) return true;
    }
    return false;
  }

  // update takes a /api/conns snapshot.
  function update(snap) {
    const prev = st.rows.get(st.selected);
    st.rows = new Map((snap.conns || []).map((r) => [r.id, r]));
    st.got = performance.now();
    render();
    const n = st.rows.size;
    status('live: ' + n + ' connection' + (n === 1 ? '' : 's') + ', updated ' + new Date().toLocaleTimeString());
    if (st.selected && changed(prev, st.rows.get(st.selected))) loadDetail();
  }

  function select(id) {
    if (st.selected !== id) st.expanded = new Set();
    st.selected = id;
    if (location.hash !== '#' + id) history.replaceState(null, '', '#' + id);
    render();
    $('detail').hidden = false;
    st.lastFetch = 0;
    loadDetail();
  }

  // loadDetail fetches the selected connection's events and trace, at most
  // once a second while it changes.
  async function loadDetail() {
    const id = st.selected;
    if (!id) return;
    if (st.fetching) { st.refetch = true; return; }
    const wait = st.lastFetch + 1000 - performance.now();
    if (wait > 0) {
      st.fetching = true;
      setTimeout(function () { st.fetching = false; loadDetail(); }, wait);
      return;
    }
    st.fetching = true;
    st.lastFetch = performance.now();
    const base = 'api/conn/' + encodeURIComponent(id);
    try {
      const [detail, trace] = await Promise.all([TS.fetchJSON(base), TS.fetchText(base + '/trace')]);
      if (st.selected === id) {
        st.detail = detail;
        $('trace').textContent = trace;
        drawDetail();
      }
    } catch (e) {
      $('detail-note').textContent = 'could not load ' + id + ': ' + e.message;
    } finally {
      st.fetching = false;
    }
    if (st.refetch) { st.refetch = false; loadDetail(); }
  }

  function drawDetail() {
    const d = st.detail;
    if (!d) return;
    const row = st.rows.get(d.id);
    $('detail-title').textContent = 'Connection ' + d.id + ': ' + d.local + ' ⇄ ' + d.remote +
      (row ? ' (' + row.state + ')' : ' (no longer listed)');
    const notes = [(d.events || []).length + ' events, ' + (d.samples || []).length + ' samples'];
    if (d.truncated) notes.push('the oldest events were dropped (the recorder keeps a bounded ring per connection)');
    $('detail-note').textContent = notes.join('; ');
    const base = 'api/conn/' + encodeURIComponent(d.id);
    $('export-pcap').href = base + '/pcap';
    $('export-pcap').setAttribute('download', d.id + '.pcap');
    $('export-trace').href = base + '/trace';
    $('export-trace').setAttribute('download', d.id + '.txt');
    $('export-json').href = base;
    $('export-json').setAttribute('download', d.id + '.json');
    const z = +$('zoom').value;
    $('zoom-value').textContent = z === 0 ? 'event order' : TS.ZOOM[z] + ' px/ms';
    TS.drawLadder($('ladder'), d, {
      zoom: z,
      collapse: $('collapse').checked,
      relative: $('relative').checked,
      expanded: st.expanded,
      onExpand: function (key) { st.expanded.add(key); drawDetail(); },
    });
    TS.drawPlots($('plots'), d);
  }

  function zoomBy(dz) {
    const z = $('zoom');
    z.value = Math.max(0, Math.min(TS.ZOOM.length - 1, +z.value + dz));
    drawDetail();
  }

  function connect() {
    TS.fetchJSON('api/conns').then(update).catch((e) => status('cannot load connections: ' + e.message, true));
    const es = new EventSource('api/events');
    es.addEventListener('conns', function (e) {
      try {
        update(JSON.parse(e.data));
      } catch (err) {
        status('bad update from the server: ' + err.message, true);
      }
    });
    es.onerror = function () { status('disconnected from tunstack; retrying…', true); };
  }

  document.addEventListener('DOMContentLoaded', function () {
    $('zoom').max = TS.ZOOM.length - 1;
    $('filter').addEventListener('input', function (e) {
      st.filter = e.target.value.trim().toLowerCase();
      render();
    });
    $('show-closed').addEventListener('change', function (e) { st.showClosed = e.target.checked; render(); });
    for (const id of ['zoom', 'collapse', 'relative']) $(id).addEventListener('input', drawDetail);
    $('zoom-in').addEventListener('click', () => zoomBy(1));
    $('zoom-out').addEventListener('click', () => zoomBy(-1));
    $('ladder-wrap').addEventListener('wheel', function (e) {
      if (!e.ctrlKey) return; // plain wheel scrolls, Ctrl+wheel zooms
      e.preventDefault();
      zoomBy(e.deltaY < 0 ? 1 : -1);
    }, { passive: false });
    // The TIME-WAIT countdown runs between server updates.
    setInterval(function () {
      for (const [id, tr] of st.trs) {
        const row = st.rows.get(id);
        if (row && row.state === 'TIME-WAIT') fillRow(tr, row);
      }
    }, 200);
    header();
    connect();
    if (location.hash.length > 1) select(decodeURIComponent(location.hash.slice(1)));
  });
})(window.TS);
