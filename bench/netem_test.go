package bench

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// delayProxy forwards TCP connections to target and delays every byte by
// oneWay in each direction: a network round trip of 2*oneWay between the
// tool and a droplet, without touching the host's or the machine's
// network settings. Bandwidth is not limited.
func delayProxy(b *testing.B, target string, oneWay time.Duration) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	b.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, t)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); pumpDelayed(t, c, oneWay) }()
			go func() { defer wg.Done(); pumpDelayed(c, t, oneWay) }()
		}
	}()
	return ln.Addr().String()
}

// pumpDelayed copies src to dst, each chunk written oneWay after it was read.
func pumpDelayed(dst, src net.Conn, oneWay time.Duration) {
	type chunk struct {
		due  time.Time
		data []byte
	}
	ch := make(chan chunk, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		broken := false
		for c := range ch {
			if broken {
				continue
			}
			time.Sleep(time.Until(c.due))
			if _, err := dst.Write(c.data); err != nil {
				broken = true
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok && !broken {
			tc.CloseWrite()
		}
	}()
	for {
		buf := make([]byte, 64<<10)
		n, err := src.Read(buf)
		if n > 0 {
			ch <- chunk{time.Now().Add(oneWay), buf[:n]}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			break
		}
	}
	close(ch)
	<-done
}
