//go:build linux

package nspawn

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Exec runs argv inside droplet id's machine, through the host (its init's
// namespaces), whatever the state of its sshd or firewall: for tests that
// must look at, or set up, a machine they cannot reach over SSH.
func (b *Backend) Exec(ctx context.Context, id int, argv ...string) ([]byte, error) {
	m, err := b.machine(id)
	if err != nil {
		return nil, err
	}
	pid := m.initPID()
	if pid == 0 {
		return nil, errors.New("the machine is not running")
	}
	args := append([]string{"-t", fmt.Sprint(pid), "-m", "-u", "-i", "-n", "-p", "-C", "--"}, argv...)
	return exec.CommandContext(ctx, "nsenter", args...).CombinedOutput()
}

// Diagnose describes why a machine may not answer SSH: sshd's unit, the
// journal since boot, what listens on TCP, and the firewall's ssh rules with
// their counters and recent-list (ufw limit) entries.
func (b *Backend) Diagnose(ctx context.Context, id int) string {
	var sb strings.Builder
	for _, c := range []struct{ title, cmd string }{
		{"systemctl status ssh", "systemctl status ssh --no-pager -l 2>&1 | head -n 40"},
		{"journal since boot (last 150 lines)", "journalctl -b --no-pager -n 150 2>&1"},
		{"listening TCP sockets", "ss -ltnp 2>&1 || netstat -ltnp 2>&1"},
		{"firewall (ufw limit rejects count here)", "iptables -L ufw-user-input -v -n 2>&1; iptables -L ufw-user-limit -v -n 2>&1; cat /proc/net/xt_recent/DEFAULT 2>&1"},
	} {
		out, err := b.Exec(ctx, id, "/bin/sh", "-c", c.cmd)
		fmt.Fprintf(&sb, "--- %s (droplet %d)\n%s", c.title, id, out)
		if err != nil {
			fmt.Fprintf(&sb, "(%v)\n", err)
		}
	}
	return sb.String()
}
