// Package shell quotes text for the POSIX shells the tool's commands run in.
package shell

import "strings"

// Quote makes s one word of sh that stands for s exactly (every byte but
// NUL, newlines included): single quotes around it, each ' as '"'"', the
// form Packer's shell provisioner writes, so a template's commands read as
// Packer's do.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}
