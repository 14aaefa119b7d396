package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// prism is Stoplight Prism proxying to the emulator and checking every
// request and response against DigitalOcean's OpenAPI spec (npm package
// @stoplight/prism-cli).
type prism struct {
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *prism) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func specPath() (string, error) {
	d, err := testutil.SharedDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(d, "data", "digitalocean-openapi.yaml")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("the OpenAPI spec is not at %s (set MP_SHARED_DIR)", p)
	}
	return p, nil
}

func prismSkipReason() string {
	if _, err := exec.LookPath("prism"); err != nil {
		return "prism not on PATH (npm install -g @stoplight/prism-cli); set MP_REQUIRE_PRISM=1 to make this an error"
	}
	if _, err := specPath(); err != nil {
		return err.Error()
	}
	return ""
}

// startPrism returns nil (and no error) when Prism or the spec is missing,
// unless MP_REQUIRE_PRISM=1 (CI) makes that an error.
func startPrism(ctx context.Context, upstream string) (*prism, error) {
	if reason := prismSkipReason(); reason != "" {
		if os.Getenv("MP_REQUIRE_PRISM") == "1" {
			return nil, fmt.Errorf("conformance required but impossible: %s", reason)
		}
		fmt.Fprintf(os.Stderr, "e2e: conformance NOT checked: %s\n", reason)
		return nil, nil
	}
	spec, _ := specPath()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := &prism{url: fmt.Sprintf("http://127.0.0.1:%d/", port), done: make(chan struct{})}
	p.cmd = exec.Command("prism", "proxy", spec, strings.TrimSuffix(upstream, "/"), "--errors", "-h", "127.0.0.1", "-p", fmt.Sprint(port))
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start prism: %w", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p.mu.Lock()
		ready := strings.Contains(p.out.String(), "Prism is listening")
		p.mu.Unlock()
		if ready {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("prism exited at start:\n%s", p.out.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, errors.New("prism did not listen within 2 minutes")
		}
	}
}

// violations lists the lines where Prism reported a request or response
// that does not match the spec.
func (p *prism) violations() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var bad []string
	for _, l := range strings.Split(p.out.String(), "\n") {
		if strings.Contains(l, "Violation") || strings.Contains(l, "✖") {
			bad = append(bad, l)
		}
	}
	return strings.Join(bad, "\n")
}

// stop ends the Prism process this test started, by its pid.
func (p *prism) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
