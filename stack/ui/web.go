package ui

import "embed"

// webFS holds the page the Handler serves at its root (web/index.html and
// what it loads). Placeholder until the page lands (helper ui-web owns this
// file and web/).
//
//go:embed web
var webFS embed.FS
