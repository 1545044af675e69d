package stack_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection keeps the package graph pointing one way
// (ARCHITECTURE.md): segment, timers and tun are leaves; stack may import
// segment and timers but never tun; nothing below cmd imports cmd or
// integration; stack/ipfrag imports only segment; stack/ui (net/http) sits
// above stack, never below it.
func TestDependencyDirection(t *testing.T) {
	const mod = "github.com/tunstack/tunstack/"
	forbidden := map[string][]string{
		"segment":   {"timers", "tun", "stack", "cmd", "integration"},
		"timers":    {"segment", "tun", "stack", "cmd", "integration"},
		"tun":       {"stack", "cmd", "integration"},
		"stack":     {"tun", "cmd", "integration", "stack/ui"},
		"stack/tcp": {"tun", "stack", "cmd", "integration"},
		// stack/ipfrag is a leaf under stack: segment and the standard
		// library only (time comes in as arguments, not from timers).
		"stack/ipfrag": {"timers", "tun", "stack", "cmd", "integration"},
		// stack/ui (the recorder and its web page) sits on top of stack;
		// stack must not import it (nor net/http, below).
		"stack/ui": {"tun", "cmd", "integration"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", mod+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == "net/http" && (pkg == "stack" || strings.HasPrefix(pkg, "stack/tcp")) {
				t.Errorf("%s imports net/http: the web UI lives in stack/ui", pkg)
			}
			rel, ok := strings.CutPrefix(dep, mod)
			if !ok || rel == pkg {
				continue
			}
			for _, b := range bad {
				if rel == b || strings.HasPrefix(rel, b+"/") {
					if pkg == "stack" && b == "stack" {
						continue // stack's own subpackages (stack/tcp)
					}
					t.Errorf("%s imports %s: the dependency graph must point one way (see ARCHITECTURE.md)", pkg, rel)
				}
			}
		}
	}
}
