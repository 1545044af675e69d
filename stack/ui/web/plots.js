// plots.js: a connection's congestion and timer variables over time, from
// the recorder's samples: cwnd, ssthresh and bytes in flight; the send and
// receive windows; SRTT and RTO; throughput per second. Retransmissions and
// the fault injector's drops (from the events) and recoveries (a drop of ssthresh or of cwnd between two
// samples, RFC 5681 3.1/3.2) are marked on every panel.
'use strict';
(function (TS) {
  const W = 1000;
  const LEFT = 80;
  const RIGHT = 150; // legend
  const PH = 130;    // panel height
  const PGAP = 46;   // title and axis between panels

  const PANELS = [
    { title: 'congestion window, ssthresh, bytes in flight', unit: TS.bytes,
      series: [['cwnd', 'cwnd'], ['ssthresh', 'ssthresh'], ['inFlight', 'in flight']] },
    { title: 'send and receive windows', unit: TS.bytes,
      series: [['sndWnd', 'send window'], ['rcvWnd', 'receive window']] },
    { title: 'smoothed RTT and RTO', unit: TS.ms,
      series: [['srttMs', 'SRTT'], ['rtoMs', 'RTO']] },
    { title: 'throughput (bytes acknowledged per second)', unit: (v) => TS.bytes(v) + '/s', bars: true },
  ];

  // value reads a sample's field; a window or threshold beyond TS.INF
  // ("infinite", e.g. the initial ssthresh) is not drawn.
  function value(s, key) {
    const v = key === 'srttMs' ? (s.srttUs === undefined ? undefined : s.srttUs / 1000) : s[key];
    if (v === undefined || v === null || !isFinite(v) || v >= TS.INF) return null;
    return v;
  }

  // throughput bins bytesAcked into seconds since the first sample: each
  // bin's bytes divided by the part of the second the samples cover.
  function throughput(samples) {
    const bins = [];
    if (samples.length < 2) return bins;
    const t0 = samples[0].t;
    const tEnd = samples[samples.length - 1].t;
    let j = 0;
    for (let k = 0; t0 + k * 1e6 < tEnd; k++) {
      const from = t0 + k * 1e6;
      const to = Math.min(from + 1e6, tEnd);
      while (j + 1 < samples.length && samples[j + 1].t <= from) j++;
      const a = samples[j].bytesAcked || 0;
      let m = j;
      while (m + 1 < samples.length && samples[m + 1].t <= to) m++;
      const b = samples[m].bytesAcked || 0;
      bins.push({ t: from, t2: to, v: to > from ? (b - a) / ((to - from) / 1e6) : 0 });
    }
    return bins;
  }

  // marks: retransmissions from the events, recoveries from the samples.
  function marks(detail) {
    const out = [];
    for (const ev of detail.events || []) {
      if (ev.retrans) out.push({ t: ev.t, kind: 'retrans', what: 'retransmission seq=' + ev.seq });
      if (ev.dropped) out.push({ t: ev.t, kind: 'dropped', what: 'dropped by the fault injector: seq=' + ev.seq });
    }
    const s = detail.samples || [];
    for (let i = 1; i < s.length; i++) {
      const a = value(s[i - 1], 'ssthresh');
      const b = value(s[i], 'ssthresh');
      const cwndDrop = s[i].cwnd < s[i - 1].cwnd / 2;
      if ((b !== null && (a === null || b < a)) || cwndDrop) {
        out.push({ t: s[i].t, kind: 'recovery', what: 'recovery: ssthresh ' + TS.bytes(b) + ', cwnd ' + TS.bytes(s[i].cwnd) });
      }
    }
    return out;
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // drawPlots renders detail's samples into svg.
  TS.drawPlots = function (svg, detail) {
    TS.clear(svg);
    const samples = detail.samples || [];
    const events = detail.events || [];
    let tMax = 1;
    if (samples.length) tMax = Math.max(tMax, samples[samples.length - 1].t);
    if (events.length) tMax = Math.max(tMax, events[events.length - 1].t);
    const x = (t) => LEFT + (W - LEFT - RIGHT) * Math.max(0, t) / tMax;
    const ms = marks(detail);
    const height = PANELS.length * (PH + PGAP) + 30;
    svg.setAttribute('width', W);
    svg.setAttribute('height', height);
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + height);
    if (samples.length === 0) {
      TS.svg('text', { x: LEFT, y: 30, class: 'plot-title' }, svg, 'no samples recorded yet');
    }
    PANELS.forEach(function (p, n) {
      const top = n * (PH + PGAP) + PGAP - 10;
      const g = TS.svg('g', { class: 'panel', 'data-panel': n }, svg);
      TS.svg('text', { x: LEFT, y: top - 10, class: 'plot-title' }, g, p.title);
      let data;
      let max = 0;
      if (p.bars) {
        data = throughput(samples);
        for (const b of data) max = Math.max(max, b.v);
      } else {
        for (const s of samples) for (const [k] of p.series) max = Math.max(max, value(s, k) || 0);
      }
      max = niceMax(max);
      const y = (v) => top + PH - PH * v / max;
      TS.svg('rect', { x: LEFT, y: top, width: W - LEFT - RIGHT, height: PH, class: 'plot-frame' }, g);
      for (const f of [0, 0.5, 1]) {
        TS.svg('line', { x1: LEFT, x2: W - RIGHT, y1: y(f * max), y2: y(f * max), class: 'grid' }, g);
        TS.svg('text', { x: LEFT - 6, y: y(f * max) + 4, class: 'axis end' }, g, p.unit(f * max));
      }
      for (const f of [0, 0.25, 0.5, 0.75, 1]) {
        TS.svg('text', { x: x(f * tMax), y: top + PH + 14, class: 'axis mid' }, g, TS.ms(f * tMax / 1000));
      }
      for (const m of ms) {
        const l = TS.svg('line', { x1: x(m.t), x2: x(m.t), y1: top, y2: top + PH, class: 'mark ' + m.kind }, g);
        TS.svg('title', {}, l, m.what + ' at ' + TS.ms(m.t / 1000));
      }
      if (p.bars) {
        for (const b of data) {
          const r = TS.svg('rect', { x: x(b.t), y: y(b.v), width: Math.max(1, x(b.t2) - x(b.t) - 2),
            height: top + PH - y(b.v), class: 'bar' }, g);
          TS.svg('title', {}, r, TS.ms(b.t / 1000) + ': ' + p.unit(b.v));
        }
        return;
      }
      p.series.forEach(function ([key, name], si) {
        // A step line: a variable keeps its value until the next sample.
        let d = '';
        let pen = false;
        for (const s of samples) {
          const v = value(s, key);
          if (v === null) { pen = false; continue; }
          d += pen ? ' H' + x(s.t).toFixed(1) + ' V' + y(v).toFixed(1)
            : ' M' + x(s.t).toFixed(1) + ' ' + y(v).toFixed(1);
          pen = true;
        }
        if (d) TS.svg('path', { d: d.trim(), class: 'series s' + si, 'data-series': key }, g);
        const ly = top + 14 + si * 18;
        TS.svg('line', { x1: W - RIGHT + 12, x2: W - RIGHT + 32, y1: ly - 4, y2: ly - 4, class: 'series s' + si }, g);
        TS.svg('text', { x: W - RIGHT + 38, y: ly, class: 'legend-text' }, g, name);
      });
    });
    const ly = height - 10;
    TS.svg('line', { x1: LEFT, x2: LEFT + 20, y1: ly - 4, y2: ly - 4, class: 'mark retrans' }, svg);
    TS.svg('text', { x: LEFT + 26, y: ly, class: 'legend-text' }, svg, 'retransmission');
    TS.svg('line', { x1: LEFT + 150, x2: LEFT + 170, y1: ly - 4, y2: ly - 4, class: 'mark recovery' }, svg);
    TS.svg('text', { x: LEFT + 176, y: ly, class: 'legend-text' }, svg, 'recovery (ssthresh or cwnd cut)');
    TS.svg('line', { x1: LEFT + 430, x2: LEFT + 450, y1: ly - 4, y2: ly - 4, class: 'mark dropped' }, svg);
    TS.svg('text', { x: LEFT + 456, y: ly, class: 'legend-text' }, svg, 'dropped (fault injector)');
  };
})(window.TS);
