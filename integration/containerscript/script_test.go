// Package containerscript tests integration/container.sh's own behaviour
// when the container cannot run: it fails under CI=true and skips
// otherwise, saying why. It lives outside package integration because the
// container image carries integration's test binary but not the script.
package containerscript

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A container engine that is installed but unusable: `info` fails.
const fakeEngine = "#!/bin/sh\necho 'Error: fake engine: no service' >&2\nexit 125\n"

func TestCannotRunFailsUnderCI(t *testing.T) {
	dir := t.TempDir()
	for _, e := range []string{"podman", "docker"} {
		if err := os.WriteFile(filepath.Join(dir, e), []byte(fakeEngine), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		ci       string
		wantCode int
		want     string
	}{
		{"true", 1, "container.sh: FAIL: CI=true and the container test cannot run: "},
		{"", 0, "container.sh: SKIP: the container test cannot run: "},
	} {
		cmd := exec.Command("bash", "../container.sh")
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "CI="+tc.ci)
		out, _ := cmd.CombinedOutput()
		code := cmd.ProcessState.ExitCode()
		if code != tc.wantCode || !strings.HasPrefix(string(out), tc.want) || strings.Count(string(out), "\n") != 1 {
			t.Errorf("CI=%q: exit %d, output %q; want exit %d and one line starting %q", tc.ci, code, out, tc.wantCode, tc.want)
		}
		// The reason is specific: as root the fake engine's own error,
		// otherwise the missing privileges.
		if !strings.Contains(string(out), "fake engine: no service") && !strings.Contains(string(out), "needs root") {
			t.Errorf("CI=%q: %q does not say why the container cannot run", tc.ci, out)
		}
	}
}
