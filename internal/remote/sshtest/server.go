//go:build unix

// Package sshtest is an in-process SSH server on 127.0.0.1 that runs commands with /bin/sh, for tests that need a remote host.
package sshtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Options configures a Server.
type Options struct {
	HostKey ssh.Signer // nil: a fresh ed25519 key
	// AuthorizedKeys are the client keys accepted; nil accepts any key.
	AuthorizedKeys []ssh.PublicKey
	NoSFTP         bool     // refuse the sftp subsystem
	Dir            string   // working directory of commands; default the test's
	Env            []string // added to every command's environment (e.g. PATH)
	// Latency delays everything the server sends by this much, so each
	// request/response round trip costs it (a network, not loopback).
	Latency time.Duration
	// Handler, when set, answers every exec request instead of /bin/sh
	// (nothing runs on the host; SFTP is refused): a machine played by the
	// test. It returns the exit status.
	Handler func(command string, stdin io.Reader, stdout, stderr io.Writer) int
}

// Server runs exec requests with /bin/sh -c as the current user, like sshd
// does: each command in its own session (setsid), env requests honoured,
// exit-status or exit-signal sent, "signal" requests delivered.
type Server struct {
	opts     Options
	ln       net.Listener
	mu       sync.Mutex
	hostKey  ssh.Signer
	dropAt   int64
	conns    map[*faultConn]struct{}
	procs    map[*exec.Cmd]struct{}
	commands []string
	accepted int
	closed   chan struct{}
	wg       sync.WaitGroup
}

// New starts a server and closes it when the test ends.
func New(tb testing.TB, o Options) *Server {
	tb.Helper()
	s, err := Start(o)
	if err != nil {
		tb.Fatalf("start test SSH server: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Start listens on a free port of 127.0.0.1.
func Start(o Options) (*Server, error) {
	return StartAt("127.0.0.1:0", o)
}

// StartAt listens on addr, e.g. to take over a port a test reserved.
func StartAt(addr string, o Options) (*Server, error) {
	if o.HostKey == nil {
		k, err := NewSigner()
		if err != nil {
			return nil, err
		}
		o.HostKey = k
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("test SSH server listen: %w", err)
	}
	s := &Server{opts: o, ln: ln, hostKey: o.HostKey, conns: map[*faultConn]struct{}{}, procs: map[*exec.Cmd]struct{}{}, closed: make(chan struct{})}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// NewSigner makes an ed25519 key, for host or client keys in tests.
func NewSigner() (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return ssh.NewSignerFromKey(priv)
}

// Addr is "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// HostKey is the public key new connections are shown.
func (s *Server) HostKey() ssh.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hostKey.PublicKey()
}

// SetHostKey makes new connections see another host key (a man in the middle).
func (s *Server) SetHostKey(k ssh.Signer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hostKey = k
}

// DropAfter cuts each new connection once it has received n bytes from the
// client (handshake included); 0 turns it off.
func (s *Server) DropAfter(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropAt = n
}

// DropAll closes every open connection now, as a network failure would.
func (s *Server) DropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Conn.Close()
	}
}

// Blackhole makes every open connection go silent without closing: reads
// and writes block, as on a dead link, until the server closes.
func (s *Server) Blackhole() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.frozen.Store(true)
	}
}

// Accepted counts TCP connections accepted so far.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Commands lists the exec requests received, in order.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// Close stops listening, drops connections and kills the process groups
// of commands still running.
func (s *Server) Close() error {
	select {
	case <-s.closed:
		return nil
	default:
	}
	close(s.closed)
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Conn.Close()
	}
	for cmd := range s.procs {
		if cmd.Process != nil {
			killTree(cmd.Process.Pid)
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.accepted++
		fc := &faultConn{Conn: nc, limit: s.dropAt, closed: s.closed}
		if s.opts.Latency > 0 {
			fc.delayed = make(chan delayedWrite, 1024)
			go fc.deliver(s.opts.Latency)
		}
		s.conns[fc] = struct{}{}
		cfg := &ssh.ServerConfig{PublicKeyCallback: s.checkKey}
		cfg.AddHostKey(s.hostKey)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(fc, cfg)
			s.mu.Lock()
			delete(s.conns, fc)
			s.mu.Unlock()
		}()
	}
}

func (s *Server) checkKey(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if s.opts.AuthorizedKeys == nil {
		return nil, nil
	}
	for _, k := range s.opts.AuthorizedKeys {
		if string(k.Marshal()) == string(key.Marshal()) {
			return nil, nil
		}
	}
	return nil, errors.New("key not authorized")
}

func (s *Server) serve(nc net.Conn, cfg *ssh.ServerConfig) {
	defer nc.Close()
	sc, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.session(ch, creqs) }()
	}
}

// session handles one channel's requests until it closes.
func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var env []string
	procs := make(chan *exec.Cmd, 1)
	var proc *exec.Cmd
	finished := make(chan struct{})
	started := false
	for {
		select {
		case p := <-procs:
			proc = p
			continue
		case <-finished:
			return
		case req, ok := <-reqs:
			if !ok {
				if started {
					<-finished
				}
				return
			}
			switch req.Type {
			case "env":
				var kv struct{ Name, Value string }
				if ssh.Unmarshal(req.Payload, &kv) != nil {
					req.Reply(false, nil)
					continue
				}
				env = append(env, kv.Name+"="+kv.Value)
				req.Reply(true, nil)
			case "exec":
				var c struct{ Command string }
				if started || ssh.Unmarshal(req.Payload, &c) != nil {
					req.Reply(false, nil)
					continue
				}
				started = true
				req.Reply(true, nil)
				go func() { defer close(finished); s.exec(ch, c.Command, env, procs) }()
			case "subsystem":
				var c struct{ Name string }
				if started || ssh.Unmarshal(req.Payload, &c) != nil || c.Name != "sftp" || s.opts.NoSFTP || s.opts.Handler != nil {
					req.Reply(false, nil)
					continue
				}
				started = true
				req.Reply(true, nil)
				go func() {
					defer close(finished)
					if srv, err := sftp.NewServer(ch); err == nil {
						srv.Serve()
						srv.Close()
					}
				}()
			case "signal":
				var sig struct{ Signal string }
				if ssh.Unmarshal(req.Payload, &sig) == nil && proc != nil && proc.Process != nil {
					if n, ok := signals[sig.Signal]; ok {
						proc.Process.Signal(n)
					}
				}
				if req.WantReply {
					req.Reply(true, nil)
				}
			default:
				if req.WantReply {
					req.Reply(false, nil)
				}
			}
		}
	}
}

var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP,
	"ILL": syscall.SIGILL, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE,
	"QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
}

func (s *Server) exec(ch ssh.Channel, command string, env []string, procs chan<- *exec.Cmd) {
	s.mu.Lock()
	s.commands = append(s.commands, command)
	s.mu.Unlock()
	if s.opts.Handler != nil {
		exitStatus(ch, s.opts.Handler(command, ch, ch, ch.Stderr()))
		ch.CloseWrite()
		return
	}
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Dir = s.opts.Dir
	cmd.Env = append(append(os.Environ(), s.opts.Env...), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // as sshd does
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		exitStatus(ch, 255)
		return
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(ch.Stderr(), "sshtest: %v\n", err)
		exitStatus(ch, 127)
		return
	}
	s.mu.Lock()
	s.procs[cmd] = struct{}{}
	s.mu.Unlock()
	procs <- cmd
	go func() { io.Copy(stdin, ch); stdin.Close() }()
	err = cmd.Wait()
	s.mu.Lock()
	delete(s.procs, cmd)
	s.mu.Unlock()
	var ee *exec.ExitError
	switch {
	case err == nil:
		exitStatus(ch, 0)
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			name := "KILL"
			for n, v := range signals {
				if v == ws.Signal() {
					name = n
				}
			}
			ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
				Signal     string
				CoreDumped bool
				Error      string
				Lang       string
			}{Signal: name}))
		} else {
			exitStatus(ch, ee.ExitCode())
		}
	default:
		exitStatus(ch, 255)
	}
	ch.CloseWrite()
}

func exitStatus(ch ssh.Channel, code int) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(code))
	ch.SendRequest("exit-status", false, b[:])
}

// faultConn cuts or freezes a connection on the server's order.
type faultConn struct {
	net.Conn
	limit  int64
	read   atomic.Int64
	frozen atomic.Bool
	closed <-chan struct{}
	// delayed queues writes for deliver when Options.Latency is set.
	delayed  chan delayedWrite
	writeErr atomic.Value // error
	qmu      sync.RWMutex // Close vs. Write on the queue
	qclosed  bool
}

type delayedWrite struct {
	at time.Time
	b  []byte
}

// deliver writes queued data once its delay has passed, in order.
func (c *faultConn) deliver(d time.Duration) {
	for w := range c.delayed {
		time.Sleep(time.Until(w.at.Add(d)))
		if _, err := c.Conn.Write(w.b); err != nil {
			c.writeErr.Store(err)
			for range c.delayed { // drain so writers never block
			}
			return
		}
	}
}

func (c *faultConn) Close() error {
	if c.delayed != nil {
		c.qmu.Lock()
		if !c.qclosed {
			c.qclosed = true
			close(c.delayed)
		}
		c.qmu.Unlock()
	}
	return c.Conn.Close()
}

func (c *faultConn) Read(p []byte) (int, error) {
	if c.frozen.Load() {
		<-c.closed
		return 0, io.EOF
	}
	if c.limit > 0 {
		left := c.limit - c.read.Load()
		if left <= 0 {
			c.Conn.Close()
			return 0, errors.New("sshtest: connection dropped on purpose")
		}
		p = p[:min(int64(len(p)), left)]
	}
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *faultConn) Write(p []byte) (int, error) {
	if c.frozen.Load() {
		<-c.closed
		return 0, io.EOF
	}
	if c.delayed != nil {
		if err, _ := c.writeErr.Load().(error); err != nil {
			return 0, err
		}
		c.qmu.RLock()
		defer c.qmu.RUnlock()
		if c.qclosed {
			return 0, net.ErrClosed
		}
		c.delayed <- delayedWrite{at: time.Now(), b: append([]byte(nil), p...)}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// killTree kills pid's process group and every descendant's, including
// ones that moved to their own session (setsid), which a group kill misses.
func killTree(pid int) {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the ")" that ends the command name: state ppid ...
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	var kill func(int)
	kill = func(p int) {
		syscall.Kill(-p, syscall.SIGKILL)
		syscall.Kill(p, syscall.SIGKILL)
		for _, c := range children[p] {
			kill(c)
		}
	}
	kill(pid)
}
