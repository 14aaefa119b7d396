package errlist

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/hashicorp/go-multierror"
)

func TestJoin(t *testing.T) {
	if err := Join(nil, nil); err != nil {
		t.Fatalf("Join of nils = %v, want nil", err)
	}
	err := Join(errors.New("first"), nil, fs.ErrNotExist)
	if got, want := err.Error(), "first\nfile does not exist"; got != want {
		t.Errorf("Join = %q, want %q", got, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.Is does not see a joined error")
	}
	// A list inside another keeps its own heading.
	inner := &multierror.Error{Errors: []error{errors.New("a"), errors.New("b")}, ErrorFormat: Counted("cleanup errors")}
	got := Join(errors.New("the build failed"), inner)
	if want := "the build failed\n2 cleanup errors:\n  a\n  b"; got.Error() != want {
		t.Errorf("nested Join:\n%s\nwant:\n%s", got, want)
	}
}

func TestCounted(t *testing.T) {
	f := Counted("problems in the recipe")
	if got := f([]error{errors.New("only one")}); got != "only one" {
		t.Errorf("one error: %q", got)
	}
	got := f([]error{errors.New("a: bad"), errors.New("b: worse")})
	if want := "2 problems in the recipe:\n  a: bad\n  b: worse"; got != want {
		t.Errorf("two errors:\n%s\nwant:\n%s", got, want)
	}
}
