package pipeline

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// validate runs the img_check rules and stricter ones; in build_image a FAIL
// stops the build here, before the snapshot.
type validate struct{ nothingToUndo }

func (validate) String() string { return "validate (Marketplace img_check rules)" }
func (validate) Declare() Decl  { return Decl{Needs: OptValidate | SSH} }
func (validate) Run(ctx context.Context, b *Build) error {
	opts := imagecheck.Options{BuildKey: buildKey(b), Mode: b.Cfg.Mode}
	facts, err := imagecheck.Collect(ctx, b.SSH, opts)
	if err != nil {
		return fmt.Errorf("running the checks: %w", err)
	}
	b.Facts = facts
	rep := imagecheck.Evaluate(facts, opts)
	rep.Host = b.IP
	// The build's own secrets, searched for on the whole disk before the snapshot.
	secrets, err := scanSecrets(ctx, b)
	if err != nil {
		return fmt.Errorf("searching the disk for the build's secrets: %w", err)
	}
	if secrets != nil {
		rep.Results = append(rep.Results, secrets.Result)
	}
	b.Validation = rep
	var sb strings.Builder
	rep.Table(&sb)
	for _, l := range strings.Split(strings.TrimRight(sb.String(), "\n"), "\n") {
		b.Out.Log(l)
	}
	for _, a := range rep.Annotations() {
		b.Out.Annotate(report.Annotation{Level: a.Level, Title: a.Title, Message: a.Message})
	}
	if err := writeReport(b, rep); err != nil {
		return err
	}
	b.note(rep.Totals())
	if secrets != nil && len(secrets.Files) > 0 && b.Cfg.Mode == config.ModeBuildImage {
		// Whatever fail-on says: a snapshot must never carry them.
		return secretsOnDisk(secrets.Files)
	}
	failOn := b.Cfg.FailOn
	if failOn == "" {
		failOn = "fail"
	}
	if rep.Failed(failOn) {
		if b.Cfg.Mode == config.ModeBuildBase {
			b.Out.Annotate(warning("validation", "validation found problems (reported only in build_base): "+rep.Verdict()))
			return nil
		}
		return fmt.Errorf("validation %s under fail-on=%s: fix the findings above (each says what to do) before a snapshot is taken", rep.Totals(), failOn)
	}
	return nil
}

func writeReport(b *Build, rep *imagecheck.Report) error {
	p := b.Cfg.Report
	if p == "" {
		return nil
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("writing the validation report: %w", err)
	}
	defer f.Close()
	b.secrets.RedactValue(rep)
	if err := rep.WriteJSON(f); err != nil {
		return err
	}
	b.ReportPath = p
	return nil
}
