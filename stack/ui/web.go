package ui

import "embed"

// webFS holds the page the Handler serves at its root: index.html, the
// scripts (common.js, ladder.js, plots.js, app.js; plain JavaScript, no
// build step) and style.css, all under web/. The page loads nothing from
// the network (no CDN, no web fonts) and addresses the API with relative
// URLs (api/conns, api/events, api/conn/{id}...), so it works wherever a
// library user mounts the handler.
//
//go:embed web
var webFS embed.FS
