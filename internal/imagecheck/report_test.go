package imagecheck

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// readBack decodes the report's JSON as a reader of the file would.
func readBack(t *testing.T, r *Report, v any) {
	t.Helper()
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js.Bytes(), v); err != nil {
		t.Fatal(err)
	}
}

func TestReportOutputs(t *testing.T) {
	f := cleanFacts()
	f.Shadow["root"] = "<hash>"
	f.MOTD = []MOTDHit{{"/etc/motd", 1, "Thank you for using DigitalOcean's LAMP | Application"}}
	r := Evaluate(f, Options{})

	var back struct {
		Verdict string   `json:"verdict"`
		Fail    int      `json:"fail"`
		Warn    int      `json:"warn"`
		Results []Result `json:"results"`
	}
	readBack(t, r, &back)
	if back.Verdict != "fail" || back.Fail != 1 || back.Warn != 1 || len(back.Results) != len(r.Results) {
		t.Errorf("json verdict %s fail %d warn %d results %d", back.Verdict, back.Fail, back.Warn, len(back.Results))
	}

	var tb bytes.Buffer
	r.Table(&tb)
	for _, want := range []string{"\nFAIL    password:root         root has a password set\n", "\n24 passed, 1 warning, 1 failed: fail\n"} {
		if !strings.Contains(tb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tb.String())
		}
	}

	md := r.Markdown()
	if !strings.HasPrefix(md, "### Marketplace image check: FAIL") || !strings.Contains(md, "- `/etc/motd:1: Thank you") || !strings.Contains(md, "| FAIL | `password:root` |") {
		t.Errorf("markdown:\n%s", md)
	}

	ann := r.Annotations()
	if len(ann) != 2 {
		t.Fatalf("annotations = %+v, want 2", ann)
	}
	levels := map[string]string{}
	for _, a := range ann {
		levels[a.Title] = a.Level
	}
	if levels["img_check password:root"] != "error" || levels["img_check motd"] != "warning" {
		t.Errorf("annotation levels = %v", levels)
	}
	// The finding's details and fix are in the annotation, each on its line.
	want := "DigitalOcean's stock LAMP/LEMP MOTD is left in place\n  /etc/motd:1: Thank you for using DigitalOcean's LAMP | Application\nFix: "
	if got := ann[1].Message; !strings.HasPrefix(got, want) {
		t.Errorf("motd annotation:\n%s\nwant it to start:\n%s", got, want)
	}
}

// A boot test's report excuses what any running droplet makes by itself,
// and a build_base report what the cleanup removes: the rendering, the
// totals, the verdict and the decision all say the same.
func TestExcusedResults(t *testing.T) {
	running := cleanFacts()
	running.VarLog = append(running.VarLog, Entry{"f", 4000, 0, "syslog.log"})
	line, key := testKey(t, 3, "/root/.ssh/authorized_keys")
	root := user(running, "root")
	root.SSH = append(root.SSH, Entry{"f", int64(len(line)), 0o600, "authorized_keys"})
	root.AuthorizedKeys = []Key{key}

	base := cleanFacts()
	bu := user(base, "root")
	bu.SSH = append(bu.SSH, Entry{"f", int64(len(line)), 0o600, "authorized_keys"})
	bu.AuthorizedKeys = []Key{key}
	base.VarLog = running.VarLog

	tests := []struct {
		name      string
		facts     *Facts
		opts      Options
		label     string
		totals    string
		verdict   string
		annotated map[string]string // title -> level
	}{
		{"boot test", running, Options{Booted: true, BootKey: key.Comment}, "EXPECTED",
			"24 passed, 0 warnings, 0 failed, 2 expected on a running droplet: pass", "pass",
			map[string]string{"img_check log-files": "notice", "img_check authorized-keys:root": "notice"}},
		{"boot test, a key that is not the boot key", running, Options{Booted: true, BootKey: "someone-else"}, "EXPECTED",
			"24 passed, 0 warnings, 1 failed, 1 expected on a running droplet: fail", "fail",
			map[string]string{"img_check log-files": "notice", "img_check authorized-keys:root": "error"}},
		{"build_base", base, Options{Mode: ModeBuildBase}, "CLEANUP",
			"24 passed, 0 warnings, 0 failed, 2 fixed by the build_image cleanup: pass", "pass",
			map[string]string{"img_check log-files": "notice", "img_check authorized-keys:root": "notice"}},
		{"build_image counts them", base, Options{}, "FAIL",
			"24 passed, 1 warning, 1 failed: fail", "fail",
			map[string]string{"img_check log-files": "warning", "img_check authorized-keys:root": "error"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Evaluate(tc.facts, tc.opts)
			if got := r.Totals(); got != tc.totals {
				t.Errorf("totals %q, want %q", got, tc.totals)
			}
			if r.Verdict() != tc.verdict || r.Failed("fail") != (tc.verdict == "fail") || r.Failed("warn") != (tc.verdict != "pass") {
				t.Errorf("verdict %s, Failed(fail)=%v, Failed(warn)=%v: they disagree with %s", r.Verdict(), r.Failed("fail"), r.Failed("warn"), tc.verdict)
			}
			var tb bytes.Buffer
			r.Table(&tb)
			if !strings.Contains(tb.String(), "\n"+tc.label+" ") || !strings.HasSuffix(tb.String(), "\n"+tc.totals+"\n") {
				t.Errorf("table does not show %s and the totals:\n%s", tc.label, tb.String())
			}
			if tc.verdict == "pass" && strings.Contains(tb.String(), "FAIL") {
				t.Errorf("a passing report shows FAIL:\n%s", tb.String())
			}
			if md := r.Markdown(); !strings.Contains(md, tc.totals) || tc.verdict == "pass" && strings.Contains(md, "FAIL") {
				t.Errorf("markdown disagrees:\n%s", md)
			}
			got := map[string]string{}
			for _, a := range r.Annotations() {
				got[a.Title] = a.Level
			}
			for title, level := range tc.annotated {
				if got[title] != level {
					t.Errorf("annotation %s: level %q, want %q (all: %v)", title, got[title], level, got)
				}
			}
			var back struct {
				Verdict string `json:"verdict"`
				Fail    int    `json:"fail"`
				Results []struct {
					ID      string `json:"id"`
					Status  Status `json:"status"`
					Excused string `json:"excused"`
				} `json:"results"`
			}
			readBack(t, r, &back)
			fails := 0
			for _, x := range back.Results {
				if x.Status == Fail && x.Excused == "" {
					fails++
				}
			}
			if back.Verdict != tc.verdict || back.Fail != fails {
				t.Errorf("JSON verdict %s, fail %d; unexcused FAIL results %d", back.Verdict, back.Fail, fails)
			}
		})
	}
}
