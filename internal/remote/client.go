package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/mp-image-action/mp-image-action/internal/retry"
	"github.com/mp-image-action/mp-image-action/internal/timing"
)

// Config says where and how to connect.
type Config struct {
	Addr   string // host or host:port (port 22 by default)
	User   string // default root
	Signer ssh.Signer
	// HostKey is the pinned server key; nil only with InsecureIgnoreHostKey.
	HostKey               ssh.PublicKey
	InsecureIgnoreHostKey bool
	DialTimeout           time.Duration // per attempt, TCP + handshake; default 15s
	// KeepAlive is how often a silent connection is probed; a connection
	// that misses three probes is closed so a dead droplet cannot hang a
	// script forever. Default 10s; negative disables.
	KeepAlive time.Duration
	// AuthRetries is how many refused logins DialRetry accepts in a row
	// (authorized_keys may appear a moment after sshd). Default 3.
	AuthRetries int
	// DialInterval is the least time between the starts of two connection
	// attempts when DialRetry or Reconnect retries; 0 keeps the plain backoff
	// (200 ms doubling to 3 s). Reconnect never goes below UFWLimitInterval.
	DialInterval time.Duration
	Logf         func(format string, args ...any)
	// Timing, when set, records dials, commands and uploads as remote time.
	Timing *timing.Recorder
	// Dial opens the TCP connection to Addr; nil dials it directly. (Tests
	// route a droplet's address to an in-process server.)
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

func (c Config) withDefaults() Config {
	if c.User == "" {
		c.User = "root"
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 15 * time.Second
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 10 * time.Second
	}
	if c.AuthRetries <= 0 {
		c.AuthRetries = 3
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil && c.Addr != "" {
		c.Addr = net.JoinHostPort(strings.Trim(c.Addr, "[]"), "22")
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Addr == "":
		return errors.New("SSH config: no address: give the droplet's IP")
	case c.Signer == nil:
		return errors.New("SSH config: no private key (a bug in the caller)")
	case c.HostKey == nil && !c.InsecureIgnoreHostKey:
		return errors.New("SSH config: no pinned host key: pin one, or explicitly set InsecureIgnoreHostKey")
	}
	return nil
}

// Client is one SSH connection to a droplet; Reconnect replaces it.
type Client struct {
	cfg  Config
	mu   sync.Mutex
	conn *conn
}

// conn is one live SSH connection and the goroutines watching it.
type conn struct {
	ssh  *ssh.Client
	done chan struct{} // closed when the connection is gone
	stop chan struct{} // stops the keep-alive loop
	once sync.Once
}

func (k *conn) close() error {
	k.once.Do(func() { close(k.stop) })
	return k.ssh.Close()
}

func (k *conn) dead() bool {
	select {
	case <-k.done:
		return true
	default:
		return false
	}
}

// lost reports whether the connection is gone or no longer answers, to
// tell a dropped link from a failure of one operation.
func (k *conn) lost() bool { return k.dead() || !k.probe(2*time.Second) }

// probe reports whether the server still answers within d.
func (k *conn) probe(d time.Duration) bool {
	if k.dead() {
		return false
	}
	res := make(chan error, 1)
	go func() {
		_, _, err := k.ssh.SendRequest("keepalive@openssh.com", true, nil)
		res <- err
	}()
	select {
	case err := <-res:
		return err == nil
	case <-k.done:
		return false
	case <-time.After(d):
		return false
	}
}

// Dial makes ONE connection attempt.
func Dial(ctx context.Context, c Config) (*Client, error) {
	defer c.Timing.Since(timing.Remote, time.Now())
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	k, err := dial(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: c, conn: k}, nil
}

func dial(ctx context.Context, c Config) (*conn, error) {
	var hostKeyErr *HostKeyError
	cc := &ssh.ClientConfig{
		User:    c.User,
		Auth:    []ssh.AuthMethod{ssh.PublicKeys(c.Signer)},
		Timeout: c.DialTimeout,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if c.HostKey == nil {
				return nil // InsecureIgnoreHostKey, checked by validate
			}
			if !bytes.Equal(key.Marshal(), c.HostKey.Marshal()) {
				hostKeyErr = &HostKeyError{Addr: c.Addr, Want: ssh.FingerprintSHA256(c.HostKey), Got: ssh.FingerprintSHA256(key)}
				return hostKeyErr
			}
			return nil
		},
	}
	if c.HostKey != nil {
		// Ask for the pinned key's type, so a server with several keys
		// shows the one we can check instead of a false mismatch.
		cc.HostKeyAlgorithms = hostKeyAlgorithms(c.HostKey.Type())
	}
	ctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
	defer cancel()
	dial := c.Dial
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	tcp, err := dial(ctx, c.Addr)
	if err != nil {
		return nil, fmt.Errorf("SSH connect to %s: %w", c.Addr, err)
	}
	// The handshake has no context: close the socket when ctx ends.
	stopWatch := context.AfterFunc(ctx, func() { tcp.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(tcp, c.Addr, cc)
	stopped := stopWatch()
	if err != nil {
		tcp.Close()
		switch {
		case hostKeyErr != nil:
			return nil, hostKeyErr
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, &AuthError{Addr: c.Addr, User: c.User, Err: err}
		case !stopped && ctx.Err() != nil:
			return nil, fmt.Errorf("SSH handshake with %s: %w", c.Addr, ctx.Err())
		}
		return nil, fmt.Errorf("SSH handshake with %s: %w", c.Addr, err)
	}
	k := &conn{ssh: ssh.NewClient(sc, chans, reqs), done: make(chan struct{}), stop: make(chan struct{})}
	go func() { k.ssh.Wait(); close(k.done) }()
	if c.KeepAlive > 0 {
		go k.keepAlive(c.KeepAlive, c.Logf, c.Addr)
	}
	return k, nil
}

// keepAlive closes a connection whose server stopped answering, so that
// reads blocked on it fail instead of waiting for TCP to give up (hours).
func (k *conn) keepAlive(every time.Duration, logf func(string, ...any), addr string) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-k.done:
			return
		case <-t.C:
			if !k.probe(3 * every) {
				if !k.dead() {
					logf("SSH connection to %s stopped answering for %s: closing it", addr, 3*every)
				}
				k.ssh.Close()
				return
			}
		}
	}
}

func hostKeyAlgorithms(keyType string) []string {
	switch keyType {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSAv01}
	}
	return []string{keyType}
}

// DialRetry connects, retrying what a booting droplet does (refused, reset,
// EOF, timeouts; cloud-init restarts sshd) with backoff until ctx ends.
// A host key mismatch is returned at once as *HostKeyError.
func DialRetry(ctx context.Context, c Config) (*Client, error) {
	defer c.Timing.Since(timing.Remote, time.Now())
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	k, err := dialRetry(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: c, conn: k}, nil
}

func dialRetry(ctx context.Context, c Config) (*conn, error) {
	start := time.Now()
	backoff := retry.Backoff{Min: 200 * time.Millisecond, Max: 3 * time.Second}
	authFailures := 0
	var lastMsg string
	lastLog := time.Time{}
	var k *conn
	var refused error          // a failure no retry can fix: a wrong host key, a refused key
	var refusedSince time.Time // the first of the connection refusals in a row
	n, err := retry.Do(ctx, 0, backoff, func(attempt int) error {
		tried := time.Now()
		var err error
		if k, err = dial(ctx, c); err == nil {
			return nil
		}
		var hk *HostKeyError
		if errors.As(err, &hk) {
			refused = err
			return err
		}
		var ae *AuthError
		if errors.As(err, &ae) {
			if authFailures++; authFailures >= c.AuthRetries {
				refused = err
				return err
			}
		} else {
			authFailures = 0
		}
		if ctx.Err() != nil {
			return err
		}
		// Log a new kind of failure at once, the same one every 10 s.
		if msg := err.Error(); msg != lastMsg || time.Since(lastLog) > 10*time.Second {
			c.Logf("SSH to %s not ready yet (attempt %d): %v", c.Addr, attempt, err)
			lastMsg, lastLog = msg, time.Now()
		}
		// Attempts start at least DialInterval apart (a firewall's rate limit),
		// further apart once refusals go on (see dialSpacing).
		if errors.Is(err, syscall.ECONNREFUSED) {
			if refusedSince.IsZero() {
				refusedSince = tried
			}
		} else {
			refusedSince = time.Time{}
		}
		return retry.Again(err, max(backoff.Delay(attempt-1), dialSpacing(c.DialInterval, refusedSince, tried)-time.Since(tried)))
	}, nil)
	switch {
	case refused != nil:
		return nil, refused
	case err == nil:
		if n > 1 {
			c.Logf("SSH to %s connected after %d attempts in %s", c.Addr, n, time.Since(start).Round(time.Millisecond))
		}
		return k, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("SSH to %s not reachable after %d attempts in %s (%w); last error: %v: check that the droplet booted and port 22 is open", c.Addr, n, time.Since(start).Round(time.Second), ctx.Err(), err)
	}
	return nil, err
}

// current is the live connection, for one operation.
func (c *Client) current() *conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// UFWLimitInterval spaces connection attempts so that `ufw limit ssh`, which
// many 1-Click images enable, never locks the tool out: that rule rejects an
// address after 6 new connections within 30 s, and a rejected attempt counts
// too, so retrying every few seconds keeps the lockout going for ever.
const UFWLimitInterval = 7 * time.Second

// UFWLockoutEscape spaces attempts that keep being refused: a lockout that
// is already there (other connections tripped the limit) outlives
// UFWLimitInterval, because a rejected attempt counts twice. At this spacing
// at most two attempts, four hits, fall in the rule's 30 s, so the next one
// gets in.
const UFWLockoutEscape = 16 * time.Second

// dialSpacing is the least time from the start of the attempt made at tried
// to the next: interval, or UFWLockoutEscape once the refusals in a row (since
// refusedSince) have lasted 30 s while attempts were spaced for ufw's limit
// (interval >= UFWLimitInterval). A plain backoff, for a new droplet whose
// sshd is starting, is never slowed.
func dialSpacing(interval time.Duration, refusedSince, tried time.Time) time.Duration {
	if interval >= UFWLimitInterval && !refusedSince.IsZero() && tried.Sub(refusedSince) >= 30*time.Second {
		return max(interval, UFWLockoutEscape)
	}
	return interval
}

// Reconnect replaces the connection with a new one to the same address with
// the same pinned host key; it retries until ctx ends, at most one attempt
// per UFWLimitInterval (the droplet may have enabled `ufw limit ssh` since
// the first connection).
func (c *Client) Reconnect(ctx context.Context) error {
	defer c.cfg.Timing.Since(timing.Remote, time.Now())
	cfg := c.cfg
	cfg.DialInterval = max(cfg.DialInterval, UFWLimitInterval)
	k, err := dialRetry(ctx, cfg)
	if err != nil {
		return fmt.Errorf("reconnect: %w", err)
	}
	c.mu.Lock()
	old := c.conn
	c.conn = k
	c.mu.Unlock()
	if old != nil {
		old.close()
	}
	return nil
}

// Close ends the connection.
func (c *Client) Close() error {
	k := c.current()
	if k == nil {
		return nil
	}
	err := k.close()
	if err != nil && (errors.Is(err, net.ErrClosed) || k.dead()) {
		return nil
	}
	return err
}

// Addr is the host:port this client connects to.
func (c *Client) Addr() string { return c.cfg.Addr }
