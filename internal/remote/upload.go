package remote

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/mp-image-action/mp-image-action/internal/shell"
	"github.com/mp-image-action/mp-image-action/internal/timing"
)

// UploadOptions tunes Upload.
type UploadOptions struct {
	// Method forces "tar" or "sftp"; empty picks tar when the remote has
	// GNU tar, else SFTP.
	Method string
	// Concurrency is how many files SFTP writes at once; default 16.
	Concurrency int
	Name        string // for errors; default "upload <localDir>"
}

// UploadStats says what an upload moved and how.
type UploadStats struct {
	Files    int   // regular files and symlinks
	Bytes    int64 // regular file content
	Duration time.Duration
	Method   string // "tar" or "sftp"
}

// entry is one local path to upload, relative to the upload root.
type entry struct {
	rel    string // slash-separated
	info   fs.FileInfo
	target string // symlink target
}

// Upload copies the tree under localDir into remoteDir (created if needed).
// With GNU tar on the remote it is one tar stream over one session,
// generated while walking the local tree:
//
//	tar -x -p --no-same-owner --no-overwrite-dir --keep-directory-symlink
//
// so files are owned by the remote user (root), modes and symlinks are
// kept, directories that already exist keep their owner and mode (a
// recipe's files/etc must not chmod /etc), and existing symlinks to
// directories stay symlinks (merged /usr: /lib -> usr/lib). localDir itself
// is not an entry, so remoteDir's own mode never changes. Without GNU tar
// it falls back to SFTP with the same rules and concurrent writes.
// A dropped connection returns *DisconnectError; retrying is the caller's call.
func (c *Client) Upload(ctx context.Context, localDir, remoteDir string, o UploadOptions) (UploadStats, error) {
	defer c.cfg.Timing.Since(timing.Remote, time.Now())
	start := time.Now()
	if o.Name == "" {
		o.Name = "upload " + localDir
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	entries, err := walk(localDir)
	if err != nil {
		return UploadStats{}, fmt.Errorf("%s: %w", o.Name, err)
	}
	k := c.current()
	method := o.Method
	if method == "" {
		method = "sftp"
		out, _, code, err := c.output(ctx, k, "command -v tar >/dev/null 2>&1 && tar --version 2>/dev/null | head -n 1")
		if err != nil {
			return UploadStats{}, fmt.Errorf("%s: check for tar: %w", o.Name, err)
		}
		if code == 0 && bytes.Contains(out, []byte("GNU tar")) {
			method = "tar"
		}
	}
	var st UploadStats
	switch method {
	case "tar":
		st, err = uploadTar(ctx, k, localDir, remoteDir, entries, o.Name)
	case "sftp":
		st, err = uploadSFTP(ctx, k, localDir, remoteDir, entries, o)
	default:
		return UploadStats{}, fmt.Errorf("%s: unknown upload method %q: use tar or sftp", o.Name, method)
	}
	st.Method, st.Duration = method, time.Since(start)
	return st, err
}

// walk lists the tree in lexical order, parents before children.
func walk(root string) ([]entry, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("read local folder: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a folder: give the folder to copy", root)
	}
	var out []entry
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := entry{rel: filepath.ToSlash(rel), info: info}
		switch t := info.Mode().Type(); {
		case t == fs.ModeSymlink:
			if e.target, err = os.Readlink(p); err != nil {
				return err
			}
		case t == 0, t == fs.ModeDir:
		default:
			return fmt.Errorf("%s is a %s, not a file, folder or symlink: remove it from the folder", p, t)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read local folder: %w", err)
	}
	return out, nil
}

// localError marks a failure on our side of a stream (a file we could not
// read), as opposed to the remote end going away.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

func uploadTar(ctx context.Context, k *conn, localDir, remoteDir string, entries []entry, name string) (UploadStats, error) {
	var st UploadStats
	sess, err := k.ssh.NewSession()
	if err != nil {
		return st, sessionErr(k, name, err)
	}
	defer sess.Close()
	stdin, err := sess.StdinPipe()
	if err != nil {
		return st, fmt.Errorf("%s: %w", name, err)
	}
	var msgs tail
	sess.Stdout, sess.Stderr = &msgs, &msgs
	q := shell.Quote(remoteDir)
	cmd := fmt.Sprintf("mkdir -p -- %s && exec tar -x -p --no-same-owner --no-overwrite-dir --keep-directory-symlink -f - -C %s", q, q)
	if err := sess.Start(cmd); err != nil {
		return st, sessionErr(k, name, err)
	}
	stopWatch := context.AfterFunc(ctx, func() { sess.Close() })
	defer stopWatch()

	writeErr := writeTar(stdin, localDir, entries, &st)
	stdin.Close()
	waitErr := sess.Wait()
	var le *localError
	var ee *ssh.ExitError
	switch {
	case ctx.Err() != nil:
		return st, fmt.Errorf("%s stopped: %w", name, ctx.Err())
	case errors.As(writeErr, &le):
		return st, fmt.Errorf("%s: %w", name, le.err)
	case errors.As(waitErr, &ee):
		return st, fmt.Errorf("%s: remote tar failed with status %d: %s", name, ee.ExitStatus(), strings.TrimSpace(msgs.String()))
	case waitErr != nil:
		return st, &DisconnectError{Name: name, Err: waitErr}
	case writeErr != nil:
		if k.lost() {
			return st, &DisconnectError{Name: name, Err: writeErr}
		}
		return st, fmt.Errorf("%s: %w", name, writeErr)
	}
	return st, nil
}

// writeTar streams the entries as a tar archive, with no temp file.
func writeTar(w io.Writer, localDir string, entries []entry, st *UploadStats) error {
	aw := newAheadWriter(w, 256*1024, 4)
	defer aw.Close() // on early returns: the goroutine ends
	bw := bufio.NewWriterSize(aw, 256*1024)
	tw := tar.NewWriter(bw)
	buf := make([]byte, 256*1024)
	for _, e := range entries {
		h, err := tar.FileInfoHeader(e.info, e.target)
		if err != nil {
			return &localError{fmt.Errorf("%s: %w", e.rel, err)}
		}
		h.Name = e.rel
		if e.info.IsDir() {
			h.Name += "/"
		}
		// Ownership comes from the remote side (--no-same-owner).
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "root", "root"
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		switch {
		case e.info.Mode().IsRegular():
			if err := copyFile(tw, filepath.Join(localDir, filepath.FromSlash(e.rel)), e.info.Size(), buf); err != nil {
				return err
			}
			st.Files++
			st.Bytes += e.info.Size()
		case e.target != "":
			st.Files++
		}
	}
	if err := tw.Close(); err != nil {
		aw.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		aw.Close()
		return err
	}
	return aw.Close()
}

// aheadWriter passes writes to w from its own goroutine, through a few
// buffers, so reading and archiving the next files overlaps with
// encrypting and sending the previous ones (what tar | ssh gets from being
// two processes). A failed write is returned by the next Write or Close.
type aheadWriter struct {
	w          io.Writer
	size       int
	full, free chan []byte
	done       chan struct{}
	mu         sync.Mutex
	err        error
	closed     bool
}

func newAheadWriter(w io.Writer, size, n int) *aheadWriter {
	a := &aheadWriter{w: w, size: size, full: make(chan []byte, n), free: make(chan []byte, n), done: make(chan struct{})}
	for range n {
		a.free <- make([]byte, 0, size)
	}
	go func() {
		defer close(a.done)
		for b := range a.full {
			if a.failed() == nil {
				if _, err := a.w.Write(b); err != nil {
					a.mu.Lock()
					a.err = err
					a.mu.Unlock()
				}
			}
			a.free <- b[:0]
		}
	}()
	return a
}

func (a *aheadWriter) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *aheadWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if err := a.failed(); err != nil {
			return n, err
		}
		b := <-a.free
		k := min(len(p), a.size)
		b = append(b, p[:k]...)
		a.full <- b
		n, p = n+k, p[k:]
	}
	return n, a.failed()
}

// Close waits until everything written reached w.
func (a *aheadWriter) Close() error {
	if !a.closed {
		a.closed = true
		close(a.full)
	}
	<-a.done
	return a.failed()
}

// copyFile writes exactly size bytes of a file; a file that changed size
// since the walk is a local error rather than a corrupt archive.
func copyFile(w io.Writer, p string, size int64, buf []byte) error {
	f, err := os.Open(p)
	if err != nil {
		return &localError{err}
	}
	defer f.Close()
	n, err := io.CopyBuffer(w, onlyReader{io.LimitReader(f, size)}, buf)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return &localError{err}
		}
		return err
	}
	if n != size {
		return &localError{fmt.Errorf("%s changed while uploading (%d of %d bytes): do not edit the folder during a build", p, n, size)}
	}
	return nil
}

// onlyReader hides ReadFrom/WriteTo so the copy goes through buf.
type onlyReader struct{ io.Reader }

// tail keeps the last few KB written to it, for error messages.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func uploadSFTP(ctx context.Context, k *conn, localDir, remoteDir string, entries []entry, o UploadOptions) (UploadStats, error) {
	var st UploadStats
	sc, err := sftp.NewClient(k.ssh, sftp.UseConcurrentWrites(true), sftp.MaxConcurrentRequestsPerFile(64))
	if err != nil {
		return st, sessionErr(k, o.Name, fmt.Errorf("start SFTP: %w", err))
	}
	defer sc.Close()
	stopWatch := context.AfterFunc(ctx, func() { sc.Close() })
	defer stopWatch()
	fail := func(err error) (UploadStats, error) {
		var le *localError
		switch {
		case ctx.Err() != nil:
			return st, fmt.Errorf("%s stopped: %w", o.Name, ctx.Err())
		case errors.As(err, &le):
			return st, fmt.Errorf("%s: %w", o.Name, le.err)
		case k.lost():
			return st, &DisconnectError{Name: o.Name, Err: err}
		}
		return st, fmt.Errorf("%s: %w", o.Name, err)
	}
	if err := sc.MkdirAll(remoteDir); err != nil {
		return fail(fmt.Errorf("create %s: %w", remoteDir, err))
	}
	// Directories first, sequentially: only new ones get the local mode,
	// applied last so a read-only directory can still be filled.
	var created []entry
	for _, e := range entries {
		if !e.info.IsDir() {
			continue
		}
		rp := path.Join(remoteDir, e.rel)
		if fi, err := sc.Stat(rp); err == nil && fi.IsDir() {
			continue
		}
		if err := sc.Mkdir(rp); err != nil {
			return fail(fmt.Errorf("create %s: %w", rp, err))
		}
		created = append(created, e)
	}
	jobs := make(chan entry)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		files    atomic.Int64
		nbytes   atomic.Int64
	)
	setErr := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range jobs {
				if err := putEntry(sc, localDir, remoteDir, e); err != nil {
					setErr(err)
					continue
				}
				files.Add(1)
				if e.info.Mode().IsRegular() {
					nbytes.Add(e.info.Size())
				}
			}
		}()
	}
	for _, e := range entries {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		if !e.info.IsDir() {
			jobs <- e
		}
	}
	close(jobs)
	wg.Wait()
	st.Files, st.Bytes = int(files.Load()), nbytes.Load()
	if firstErr != nil {
		return fail(firstErr)
	}
	if ctx.Err() != nil {
		return fail(ctx.Err())
	}
	for i := len(created) - 1; i >= 0; i-- {
		rp := path.Join(remoteDir, created[i].rel)
		if err := sc.Chmod(rp, created[i].info.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return fail(fmt.Errorf("chmod %s: %w", rp, err))
		}
	}
	return st, nil
}

// putEntry writes one file or symlink over SFTP, replacing what is there.
func putEntry(sc *sftp.Client, localDir, remoteDir string, e entry) error {
	rp := path.Join(remoteDir, e.rel)
	if e.target != "" {
		sc.Remove(rp) // like tar: a symlink replaces what was there
		if err := sc.Symlink(e.target, rp); err != nil {
			return fmt.Errorf("symlink %s: %w", rp, err)
		}
		return nil
	}
	f, err := os.Open(filepath.Join(localDir, filepath.FromSlash(e.rel)))
	if err != nil {
		return &localError{err}
	}
	defer f.Close()
	rf, err := sc.OpenFile(rp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("create %s: %w", rp, err)
	}
	n, err := rf.ReadFrom(io.LimitReader(f, e.info.Size()))
	if cerr := rf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", rp, err)
	}
	if n != e.info.Size() {
		return &localError{fmt.Errorf("%s changed while uploading: do not edit the folder during a build", e.rel)}
	}
	if err := sc.Chmod(rp, e.info.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return fmt.Errorf("chmod %s: %w", rp, err)
	}
	return nil
}

// WriteFile writes data to path atomically (temp file + rename), creating
// parent directories, with the given mode.
func (c *Client) WriteFile(ctx context.Context, p string, data []byte, mode os.FileMode) error {
	defer c.cfg.Timing.Since(timing.Remote, time.Now())
	k := c.current()
	name := "write " + p
	sess, err := k.ssh.NewSession()
	if err != nil {
		return sessionErr(k, name, err)
	}
	defer sess.Close()
	var msgs tail
	sess.Stdin = bytes.NewReader(data)
	sess.Stdout, sess.Stderr = &msgs, &msgs
	q := shell.Quote(p)
	cmd := fmt.Sprintf(`mkdir -p -- "$(dirname -- %[1]s)" && t=$(mktemp %[1]s.XXXXXX) && { cat >"$t" && chmod %04o "$t" && mv -f -- "$t" %[1]s || { rm -f -- "$t"; exit 1; }; }`,
		q, uint32(mode.Perm()))
	done := make(chan error, 1)
	if err := sess.Start(cmd); err != nil {
		return sessionErr(k, name, err)
	}
	go func() { done <- sess.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		sess.Close()
		return fmt.Errorf("%s stopped: %w", name, ctx.Err())
	}
	var ee *ssh.ExitError
	switch {
	case errors.As(err, &ee):
		return fmt.Errorf("%s: failed with status %d: %s", name, ee.ExitStatus(), strings.TrimSpace(msgs.String()))
	case err != nil:
		return exitErr(k, name, err, "")
	}
	return nil
}
