//go:build linux

package nspawn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// aptProxy is the backend's own apt-cacher-ng: machines reach package
// mirrors only through it, and its cache under CacheDir makes repeated runs
// fast.
type aptProxy struct {
	cmd    *exec.Cmd
	done   chan struct{}
	url    string // http://GATEWAY:3142
	unlock func()
}

const aptProxyPort = "3142"

// maxProxySlots bounds how many backends can run at once with a cache of
// their own; apt-cacher-ng does not share a cache dir between processes.
const maxProxySlots = 8

func startAptProxy(ctx context.Context, cacheDir, stateDir, listen, runDir string, logf func(string, ...any)) (*aptProxy, error) {
	bin, err := exec.LookPath("apt-cacher-ng")
	if err != nil {
		return nil, errors.New("apt-cacher-ng not found: apt-get install -y --no-install-recommends apt-cacher-ng")
	}
	var unlock func()
	var slotDir string
	for i := 0; i < maxProxySlots; i++ {
		dir := filepath.Join(cacheDir, "apt-cacher-ng", fmt.Sprintf("slot-%d", i))
		if u, err := flock(ctx, dir+".lock", false); err == nil {
			unlock, slotDir = u, dir
			break
		}
	}
	if unlock == nil {
		return nil, fmt.Errorf("all %d apt proxy caches under %s are in use by other local clouds: stop one", maxProxySlots, cacheDir)
	}
	confDir := filepath.Join(stateDir, "apt-cacher-ng")
	logDir := filepath.Join(confDir, "log")
	for _, d := range []string{slotDir, logDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			unlock()
			return nil, fmt.Errorf("apt proxy dirs: %w", err)
		}
	}
	conf := fmt.Sprintf(`CacheDir: %s
LogDir: %s
SupportDir: /usr/lib/apt-cacher-ng
Port: %s
BindAddress: %s
SocketPath: %s
PidFile: %s
ForeGround: 1
ExThreshold: 4
# HTTPS repositories are tunnelled (CONNECT), not cached.
PassThroughPattern: .*
# Machines may name security.debian.org; fetch it from deb.debian.org.
Remap-secdeb: security.debian.org security.debian.org/debian-security deb.debian.org/debian-security /debian-security ; deb.debian.org/debian-security
`, slotDir, logDir, aptProxyPort, listen, filepath.Join(confDir, "socket"), filepath.Join(confDir, "pid"))
	if err := os.WriteFile(filepath.Join(confDir, "acng.conf"), []byte(conf), 0o644); err != nil {
		unlock()
		return nil, fmt.Errorf("apt proxy config: %w", err)
	}
	cmd := exec.Command(bin, "-c", confDir)
	logFile, err := os.Create(filepath.Join(logDir, "stdout.log"))
	if err != nil {
		unlock()
		return nil, fmt.Errorf("apt proxy log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a Ctrl-C meant for the test must not kill the
	// proxy before Close has stopped the machines using it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		unlock()
		return nil, fmt.Errorf("start apt-cacher-ng: %w", err)
	}
	p := &aptProxy{cmd: cmd, done: make(chan struct{}), url: "http://" + net.JoinHostPort(listen, aptProxyPort), unlock: unlock}
	go func() { _ = cmd.Wait(); logFile.Close(); close(p.done) }()
	_ = updateRegistry(runDir, func(e *registryEntry) {
		e.ProxyPID, e.ProxyTime = cmd.Process.Pid, procStartTime(cmd.Process.Pid)
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(listen, aptProxyPort), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-p.done:
			unlock()
			return nil, fmt.Errorf("apt-cacher-ng exited at start; see %s", filepath.Join(logDir, "stdout.log"))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = p.stop()
			return nil, fmt.Errorf("apt-cacher-ng did not listen on %s within 10s: %w", p.url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	logf("nspawn: apt proxy %s caching in %s", p.url, slotDir)
	return p, nil
}

// stop ends the proxy by its pid: SIGTERM, then SIGKILL after a grace.
func (p *aptProxy) stop() error {
	defer p.unlock()
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("apt-cacher-ng pid %d did not exit after SIGKILL", p.cmd.Process.Pid)
	}
}
