package shell

import (
	"os/exec"
	"testing"
)

// Each string comes back unchanged from a real sh (dash on Debian) and bash.
func TestQuoteRoundTrip(t *testing.T) {
	for _, sh := range []string{"sh", "bash"} {
		if _, err := exec.LookPath(sh); err != nil {
			t.Logf("no %s here", sh)
			continue
		}
		for _, s := range []string{"", "plain", "with space", "it's", `'"'"'`, `"dq" $HOME ${x} $(id) ` + "`id`", "new\nline\n",
			"a\\b", "ünïcødé ✓", "-n", "*?[]", ";&|<>", "~root", "#hash", "x=y"} {
			out, err := exec.Command(sh, "-c", "printf %s "+Quote(s)).Output()
			if err != nil || string(out) != s {
				t.Errorf("%s: %q -> %q (%v)", sh, s, out, err)
			}
		}
	}
}
