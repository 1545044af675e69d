// common.js: helpers shared by the table (app.js), the ladder diagram
// (ladder.js) and the plots (plots.js). Plain JavaScript, no build step, no
// library; everything hangs off one global, TS.
'use strict';
window.TS = window.TS || {};
(function (TS) {
  const SVGNS = 'http://www.w3.org/2000/svg';

  // svg creates an SVG element with attributes (and text) under parent.
  TS.svg = function (tag, attrs, parent, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs || {}) {
      if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    }
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  };

  // html creates an HTML element with attributes and text under parent.
  TS.html = function (tag, attrs, parent, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) {
      if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    }
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  };

  TS.clear = function (e) {
    while (e.firstChild) e.removeChild(e.firstChild);
  };

  // bytes formats a byte count: 1460 B, 64.0 kB, 1.50 MB (SI units, like curl).
  TS.bytes = function (n) {
    if (n === undefined || n === null || !isFinite(n)) return '–';
    const a = Math.abs(n);
    if (a < 1000) return Math.round(n) + ' B';
    if (a < 1e6) return (n / 1e3).toFixed(a < 1e4 ? 2 : 1) + ' kB';
    if (a < 1e9) return (n / 1e6).toFixed(a < 1e7 ? 2 : 1) + ' MB';
    return (n / 1e9).toFixed(2) + ' GB';
  };

  // ms formats a duration given in milliseconds.
  TS.ms = function (v) {
    if (v === undefined || v === null || !isFinite(v)) return '–';
    if (v >= 10000) return (v / 1000).toFixed(1) + ' s';
    if (v >= 100) return Math.round(v) + ' ms';
    if (v >= 10) return v.toFixed(1) + ' ms';
    return v.toFixed(2) + ' ms';
  };

  // INF is where a window or threshold stops being a number worth drawing:
  // an initial ssthresh is "arbitrarily high" (RFC 5681 3.1), which stacks
  // store as a huge sentinel.
  TS.INF = 1 << 30;

  // seqDiff is a - b in 32-bit sequence space (RFC 9293 3.4), signed.
  TS.seqDiff = function (a, b) {
    return (a - b) | 0;
  };

  // fetchJSON fetches a URL relative to the page (so the page also works
  // when a library user mounts the handler under a prefix).
  TS.fetchJSON = async function (url) {
    const r = await fetch(url, { cache: 'no-store' });
    if (!r.ok) {
      let msg = r.status + ' ' + r.statusText;
      try {
        const j = await r.json();
        if (j && j.error) msg = j.error;
      } catch (e) { /* not JSON */ }
      throw new Error(url + ': ' + msg);
    }
    return r.json();
  };

  TS.fetchText = async function (url) {
    const r = await fetch(url, { cache: 'no-store' });
    if (!r.ok) throw new Error(url + ': ' + r.status + ' ' + r.statusText);
    return r.text();
  };
})(window.TS);
