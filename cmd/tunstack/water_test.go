package main

import (
	"strings"
	"testing"
)

// --link errors are usage errors with one line saying what to do; none of
// these touches a device (the last only looks the name up).
func TestLinkWaterUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--link", "tap"}, `--link "tap": want tun or water`},
		{[]string{"serve", "--link", "water"}, "give it with --tun NAME"},
		{[]string{"dial", "--link", "water", "198.18.0.1:80"}, "give it with --tun NAME"},
		{[]string{"serve", "--link", "water", "--tun", "tsnone9"}, "ip tuntap add dev tsnone9 mode tun"},
	} {
		code, _, stderr := runCLI(tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and one line containing %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}
