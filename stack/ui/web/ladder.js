// ladder.js: the ladder (sequence) diagram of one connection, the picture
// TCP textbooks draw: the stack's time line on the left, the peer's on the
// right, every segment a slanted arrow labelled like --trace, and each
// side's states along its line. The stack's states are recorded ("state"
// events); the peer's are inferred from the segments (peerStates). Under a
// fault injector, segments it dropped end half way in a cross, and the
// duplicates it made are marked as such.
'use strict';
(function (TS) {
  const W = 1000;
  const X_TIME = 8;      // time column
  const X_STACK = 250;   // the stack's time line
  const X_PEER = 750;    // the peer's time line
  const TOP = 70;        // first row
  const SLANT = 22;      // vertical drop of an arrow: its flight time
  const GAP = 34;        // least distance between two segment rows
  const GAP_SYN = 46;    // a SYN row has a second label line (its options)
  const RUN_MIN = 12;    // runs of this many plain segments are collapsed,
  const RUN_KEEP = 2;    // keeping this many visible at each end
  const IDLE_US = 200000; // in event order, a pause this long is written out

  // ZOOM lists the time scales in px per ms; 0 spaces rows by event order.
  TS.ZOOM = [0, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100];

  // plain: a segment that may be collapsed into a data run (no SYN, FIN or
  // RST, not a retransmission: those always stay visible).
  function plain(ev) {
    return ev.dir !== 'state' && !/[SFR]/.test(ev.flags || '') && !ev.retrans && !ev.dropped && !ev.injected;
  }

  // rows turns events into rows, collapsing the middle of long runs of
  // plain segments into one summary row unless the user expanded it.
  function rows(events, collapse, expanded) {
    const out = [];
    let run = [];
    const flush = function () {
      if (collapse && run.length >= RUN_MIN + 2 * RUN_KEEP) {
        const mid = run.slice(RUN_KEEP, run.length - RUN_KEEP);
        const key = mid[0].i;
        out.push(...run.slice(0, RUN_KEEP));
        if (expanded.has(key)) out.push(...mid);
        else out.push({ kind: 'run', evs: mid.map((r) => r.ev), t: mid[0].t, key: key });
        out.push(...run.slice(run.length - RUN_KEEP));
      } else {
        out.push(...run);
      }
      run = [];
    };
    events.forEach(function (ev, i) {
      const r = { kind: ev.dir === 'state' ? 'state' : 'seg', ev: ev, t: ev.t, i: i };
      if (plain(ev)) {
        run.push(r);
        return;
      }
      flush();
      out.push(r);
    });
    flush();
    return out;
  }

  // isns finds each direction's initial sequence number for relative
  // numbers (like Wireshark): the SYN's seq, else the first seq seen.
  function isns(events) {
    const isn = {};
    const fromSyn = {};
    for (const ev of events) {
      if (ev.dir === 'state' || fromSyn[ev.dir]) continue;
      if (/S/.test(ev.flags)) {
        isn[ev.dir] = ev.seq;
        fromSyn[ev.dir] = true;
      } else if (isn[ev.dir] === undefined) {
        isn[ev.dir] = ev.seq;
      }
    }
    return isn;
  }

  // label renders a segment like a --trace line: "[S.] seq=0 ack=1 win=65535 len=0".
  function label(ev, rel, isn) {
    const other = ev.dir === 'out' ? 'in' : 'out';
    let seq = ev.seq;
    let ack = ev.ack;
    if (rel && isn[ev.dir] !== undefined) seq = (ev.seq - isn[ev.dir]) >>> 0;
    if (rel && isn[other] !== undefined && /\./.test(ev.flags)) ack = (ev.ack - isn[other]) >>> 0;
    return '[' + ev.flags + '] seq=' + seq + ' ack=' + ack + ' win=' + ev.win + ' len=' + ev.len;
  }

  // peerStates infers the peer's RFC 9293 states from the segments as the
  // stack saw them: [{i, to, when: 'send'|'recv'}], where i is the event
  // index and when says whether the change happened as the peer sent that
  // segment or as it received it.
  TS.peerStates = function (events) {
    const out = [];
    let st = null;
    let finSeq = null; // sequence number of the peer's FIN
    const go = function (i, to, when) {
      if (to !== st) out.push({ i: i, to: to, when: when });
      st = to;
    };
    events.forEach(function (ev, i) {
      // A segment of the stack's the injector dropped never reached the peer.
      if (ev.dir === 'state' || (ev.dir === 'out' && ev.dropped)) return;
      const f = ev.flags || '';
      if (/R/.test(f)) return go(i, 'CLOSED', ev.dir === 'in' ? 'send' : 'recv');
      if (ev.dir === 'in') {
        if (/S/.test(f) && !/\./.test(f)) return go(i, 'SYN-SENT', 'send');
        if (/S/.test(f)) {
          if (st === null) go(i, 'SYN-RECEIVED', 'send');
          return;
        }
        if (st === null) go(i, 'ESTABLISHED', 'send'); // history truncated
        if (/F/.test(f)) {
          finSeq = (ev.seq + ev.len) >>> 0;
          if (st === 'ESTABLISHED') go(i, 'FIN-WAIT-1', 'send');
          else if (st === 'CLOSE-WAIT') go(i, 'LAST-ACK', 'send');
        }
        return;
      }
      // A segment from the stack, as the peer receives it.
      if (st === null) go(i, /S/.test(f) && !/\./.test(f) ? 'LISTEN' : 'ESTABLISHED', 'recv');
      if (/S/.test(f)) {
        if (!/\./.test(f)) go(i, 'SYN-RECEIVED', 'recv');
        else if (st === 'SYN-SENT') go(i, 'ESTABLISHED', 'recv');
        return;
      }
      const acksFin = finSeq !== null && /\./.test(f) && TS.seqDiff(ev.ack, finSeq + 1) >= 0;
      if (st === 'SYN-RECEIVED' && /\./.test(f)) go(i, 'ESTABLISHED', 'recv');
      if (acksFin) {
        if (st === 'FIN-WAIT-1') go(i, 'FIN-WAIT-2', 'recv');
        else if (st === 'CLOSING') go(i, 'TIME-WAIT', 'recv');
        else if (st === 'LAST-ACK') go(i, 'CLOSED', 'recv');
      }
      if (/F/.test(f)) {
        if (st === 'ESTABLISHED') go(i, 'CLOSE-WAIT', 'recv');
        else if (st === 'FIN-WAIT-1') go(i, 'CLOSING', 'recv');
        else if (st === 'FIN-WAIT-2') go(i, 'TIME-WAIT', 'recv');
      }
    });
    return out;
  };

  // markText prefixes a label with what happened to the segment.
  function markText(ev) {
    return (ev.dropped ? 'dropped ' : '') + (ev.injected ? 'duplicate ' : '') + (ev.retrans ? 'retransmission ' : '');
  }

  function runText(evs) {
    let outB = 0;
    let inB = 0;
    let nOut = 0;
    for (const ev of evs) {
      if (ev.dir === 'out') { outB += ev.len; nOut++; } else { inB += ev.len; }
    }
    const dt = (evs[evs.length - 1].t - evs[0].t) / 1000;
    return '… ' + evs.length + ' data segments (' + nOut + ' out: ' + TS.bytes(outB) + ', ' +
      (evs.length - nOut) + ' in: ' + TS.bytes(inB) + ', ' + TS.ms(dt) + ') …';
  }

  // draw renders the ladder of detail (the /api/conn/{id} JSON) into svg.
  // opts: {zoom (index into TS.ZOOM), collapse, relative, expanded (Set),
  // onExpand(key)}.
  TS.drawLadder = function (svg, detail, opts) {
    TS.clear(svg);
    const events = detail.events || [];
    const pxPerUs = TS.ZOOM[opts.zoom] / 1000;
    const isn = isns(events);
    const defs = TS.svg('defs', {}, svg);
    for (const k of ['out', 'in', 'retrans', 'run']) {
      const m = TS.svg('marker', { id: 'arrow-' + k, viewBox: '0 0 10 10', refX: 10, refY: 5,
        markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
      TS.svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'head head-' + k }, m);
    }
    TS.svg('text', { x: X_STACK, y: 22, class: 'side' }, svg, 'stack ' + (detail.local || ''));
    TS.svg('text', { x: X_PEER, y: 22, class: 'side' }, svg, 'peer ' + (detail.remote || ''));
    TS.svg('text', { x: X_TIME, y: 22, class: 'side start' }, svg, 'time');
    const lines = TS.svg('g', { class: 'timelines' }, svg);
    const body = TS.svg('g', { class: 'rows' }, svg);
    const peer = new Map(TS.peerStates(events).map((p) => [p.i, p]));

    const rs = rows(events, opts.collapse, opts.expanded);
    // Each segment row is a band from y to y+SLANT: an arrow leaves its
    // sender at the top and reaches the receiver at the bottom, so rows
    // never cross. stackY is where the last segment touched the stack's line.
    let y = TOP - GAP;
    let stackY = TOP;
    let nextGap = GAP; // a SYN row has a second label line below its arrow
    let lastPeerY = -1e9;
    let lastStackY = -1e9;
    const angle = Math.atan2(SLANT, X_PEER - X_STACK) * 180 / Math.PI;
    const first = events.find((ev) => ev.dir === 'state');
    if (first && first.from) {
      TS.svg('text', { x: X_STACK - 10, y: TOP - 24, class: 'state state-stack initial', 'data-state': first.from },
        body, first.from);
    }
    let prevT = null;
    let lastTimeY = -1e9;
    let lastTime = '';
    const time = function (g, ty, t) {
      const text = TS.ms(t / 1000);
      if (text === lastTime && ty < lastTimeY + 14) return; // said just above
      TS.svg('text', { x: X_TIME, y: ty + 4, class: 'time' }, g, text);
      lastTimeY = ty;
      lastTime = text;
    };
    for (const r of rs) {
      if (prevT !== null && pxPerUs === 0 && r.t - prevT >= IDLE_US) {
        // Event order hides time: say how long nothing happened (an RTO,
        // a TIME-WAIT's 2*MSL, an idle connection).
        const gy = Math.max(y + SLANT + 16, stackY + 16, lastStackY + 16, lastPeerY + 16);
        TS.svg('text', { x: (X_STACK + X_PEER) / 2, y: gy, class: 'idle' }, body,
          '⋯ ' + TS.ms((r.t - prevT) / 1000) + ' later ⋯');
        y = Math.max(y, gy + 10 - nextGap);
        stackY = Math.max(stackY, gy + 10);
        lastPeerY = Math.max(lastPeerY, gy);
      }
      prevT = r.t;
      if (r.kind === 'state') {
        const ty = Math.max(stackY, TOP + r.t * pxPerUs, lastStackY + 14);
        lastStackY = ty;
        y = Math.max(y, ty - GAP + 8);
        const g = TS.svg('g', { class: 'row state-row' }, body);
        if (ty > lastTimeY + 12) time(g, ty, r.t);
        TS.svg('line', { x1: X_STACK - 6, x2: X_STACK, y1: ty, y2: ty, class: 'tick' }, g);
        TS.svg('text', { x: X_STACK - 10, y: ty + 4, class: 'state state-stack', 'data-state': r.ev.to },
          g, r.ev.to);
        TS.svg('title', {}, g, r.ev.from + ' → ' + r.ev.to + ' at ' + TS.ms(r.t / 1000));
        continue;
      }
      const inbound = r.kind === 'seg' && r.ev.dir === 'in';
      // The stack saw an inbound segment at its arrival, the band's bottom.
      y = Math.max(y + nextGap, TOP + r.t * pxPerUs - (inbound ? SLANT : 0));
      if (r.kind === 'run') {
        const g = TS.svg('g', { class: 'row run-row', tabindex: 0, role: 'button',
          'aria-label': 'expand ' + runText(r.evs) }, body);
        time(g, y + 11, r.t);
        TS.svg('rect', { x: X_STACK, y: y, width: X_PEER - X_STACK, height: SLANT, class: 'run-band' }, g);
        TS.svg('line', { x1: X_STACK + 2, y1: y + 4, x2: X_PEER - 2, y2: y + 4,
          class: 'seg seg-run summary', 'marker-end': 'url(#arrow-run)', 'marker-start': 'url(#arrow-run)' }, g);
        TS.svg('text', { x: (X_STACK + X_PEER) / 2, y: y + SLANT - 3, class: 'label summary-label' },
          g, runText(r.evs));
        const expand = function () { opts.onExpand(r.key); };
        g.addEventListener('click', expand);
        g.addEventListener('keydown', function (e) {
          if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); expand(); }
        });
        stackY = y + SLANT;
        nextGap = GAP + 6;
        continue;
      }
      const ev = r.ev;
      const out = ev.dir === 'out';
      const x1 = out ? X_STACK : X_PEER;
      const x2 = out ? X_PEER : X_STACK;
      const marks = (ev.retrans ? ' retrans' : '') + (ev.dropped ? ' dropped' : '') + (ev.injected ? ' injected' : '');
      const cls = 'seg seg-' + ev.dir + marks;
      // A dropped segment stops part way, in a cross.
      const reach = ev.dropped ? 0.6 : 1;
      const xe = x1 + (x2 - x1) * reach;
      const ye = y + SLANT * reach;
      const head = ev.retrans ? 'retrans' : ev.dir;
      const g = TS.svg('g', { class: 'row seg-row', 'data-flags': ev.flags, 'data-dir': ev.dir }, body);
      stackY = out ? y : y + SLANT;
      nextGap = ev.opts ? GAP_SYN : GAP;
      time(g, stackY, ev.t);
      TS.svg('line', { x1: x1, y1: y, x2: xe, y2: ye, class: cls, 'data-flags': ev.flags,
        'data-dir': ev.dir, 'marker-end': ev.dropped ? null : 'url(#arrow-' + head + ')' }, g);
      if (ev.dropped) {
        TS.svg('path', { d: 'M' + (xe - 6) + ' ' + (ye - 6) + ' l12 12 m0 -12 l-12 12', class: 'drop-x' }, g);
      }
      const cx = (X_STACK + X_PEER) / 2;
      const cy = y + SLANT / 2;
      const rot = 'rotate(' + (out ? angle : -angle).toFixed(2) + ' ' + cx + ' ' + cy + ')';
      const text = markText(ev) + label(ev, opts.relative, isn);
      TS.svg('text', { x: cx, y: cy - 6, class: 'label' + marks, transform: rot }, g, text);
      if (ev.opts) {
        TS.svg('text', { x: cx, y: cy + 16, class: 'label opts', transform: rot }, g, '<' + ev.opts + '>');
      }
      TS.svg('title', {}, g, markText(ev) + label(ev, false, isn) + (ev.opts ? ' <' + ev.opts + '>' : '') +
        ' at ' + TS.ms(ev.t / 1000));
      const p = peer.get(r.i);
      if (p) {
        // The peer changed state as it sent (top, inbound) or received
        // (bottom, outbound) this segment.
        const py = Math.max(p.when === 'send' ? y : y + SLANT, lastPeerY + 14);
        lastPeerY = py;
        TS.svg('line', { x1: X_PEER, x2: X_PEER + 6, y1: py, y2: py, class: 'tick' }, g);
        TS.svg('text', { x: X_PEER + 10, y: py + 4, class: 'state state-peer inferred', 'data-state': p.to },
          g, p.to);
      }
    }
    const h = Math.max(y + SLANT + 40, lastPeerY + 20, lastStackY + 20, 140);
    TS.svg('line', { x1: X_STACK, y1: 32, x2: X_STACK, y2: h - 10, class: 'timeline' }, lines);
    TS.svg('line', { x1: X_PEER, y1: 32, x2: X_PEER, y2: h - 10, class: 'timeline' }, lines);
    if (events.length === 0) {
      TS.svg('text', { x: (X_STACK + X_PEER) / 2, y: TOP + 20, class: 'label' }, body, 'no segments recorded');
    }
    svg.setAttribute('width', W);
    svg.setAttribute('height', Math.ceil(h));
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + Math.ceil(h));
  };
})(window.TS);
