package imagecheck

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestReportOutputs(t *testing.T) {
	f := cleanFacts()
	f.Shadow["root"] = "<hash>"
	f.MOTD = []MOTDHit{{"/etc/motd", 1, "Thank you for using DigitalOcean's LAMP | Application"}}
	r := Evaluate(f, Options{})

	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Verdict string   `json:"verdict"`
		Fail    int      `json:"fail"`
		Warn    int      `json:"warn"`
		Results []Result `json:"results"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Verdict != "fail" || back.Fail != 1 || back.Warn != 1 || len(back.Results) != len(r.Results) {
		t.Errorf("json verdict %s fail %d warn %d results %d", back.Verdict, back.Fail, back.Warn, len(back.Results))
	}

	var tb bytes.Buffer
	r.Table(&tb)
	if !strings.Contains(tb.String(), "[FAIL] password:root: root has a password set") || !strings.Contains(tb.String(), "fix: lock root's password") {
		t.Errorf("table:\n%s", tb.String())
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
}
