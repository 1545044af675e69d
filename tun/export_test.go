package tun

// WithDestOpts is withDestOpts, for the external tests.
var WithDestOpts = withDestOpts
