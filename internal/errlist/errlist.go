// Package errlist joins errors with go-multierror in the two forms the tool
// prints: one a line, or counted under a heading.
package errlist

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Join is errs without the nil ones, one a line; nil when none is left. A
// list among them stays one entry that prints in its own format.
func Join(errs ...error) error {
	m := &multierror.Error{ErrorFormat: Lines}
	for _, err := range errs {
		if err != nil {
			// Not multierror.Append: it would flatten a list and lose its heading.
			m.Errors = append(m.Errors, err)
		}
	}
	return m.ErrorOrNil()
}

// Lines prints one error a line.
func Lines(es []error) string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Counted prints "N <what>:" and then each error indented on its own line,
// the way a CI log shows a list best; a single error is printed alone.
func Counted(what string) multierror.ErrorFormatFunc {
	return func(es []error) string {
		if len(es) == 1 {
			return es[0].Error()
		}
		lines := make([]string, len(es))
		for i, e := range es {
			lines[i] = "  " + e.Error()
		}
		return fmt.Sprintf("%d %s:\n%s", len(es), what, strings.Join(lines, "\n"))
	}
}
