package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/shell"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
	"github.com/mp-image-action/mp-image-action/internal/testutil/cloudenv"
)

// droplet is a local-cloud droplet with the key that logs in and its
// pinned host key.
type droplet struct {
	id  int
	ip  string
	key *remote.KeyPair
	hk  *remote.HostKey
}

// boot creates a droplet on c (nyc3, debian-12-x64) and waits until it is
// active; b.Cleanup deletes it and its key.
func boot(b *testing.B, c *godo.Client, name string) *droplet {
	b.Helper()
	d := cloudenv.Boot(b, c, godo.DropletCreateImage{Slug: "debian-12-x64"}, name)
	return &droplet{id: d.ID, ip: d.IP, key: d.Key, hk: d.Host}
}

// dial connects the tool's SSH client with the pinned host key, to addr
// (host:port; the droplet's port 22 when empty).
func (d *droplet) dial(b *testing.B, addr string) *remote.Client {
	b.Helper()
	if addr == "" {
		addr = d.ip
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := remote.DialRetry(ctx, remote.Config{Addr: addr, Signer: d.key.Signer, HostKey: d.hk.Public})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// treeSpec is issue 9's upload: 5,000 small files of 100 B to 8 KB in
// nested directories, and 200 MB of larger files, all incompressible.
type treeSpec struct {
	small    int
	minSmall int
	maxSmall int
	big      int
	bigSize  int64
}

var issueTree = treeSpec{small: 5000, minSmall: 100, maxSmall: 8 << 10, big: 4, bigSize: 50 << 20}

// generate writes the tree deterministically: small/ and big/ under dir.
func generate(dir string, s treeSpec) (files int, bytes int64, err error) {
	r := rand.New(rand.NewPCG(9, 9))
	fill := func(p []byte) {
		for i := 0; i < len(p); i += 8 {
			v := r.Uint64()
			for j := 0; j < 8 && i+j < len(p); j++ {
				p[i+j] = byte(v >> (8 * j))
			}
		}
	}
	buf := make([]byte, 1<<20)
	for i := range s.small {
		// three levels: small/a<i%7>/b<i%13>/c<i/500>/f<i>
		d := filepath.Join(dir, "small", fmt.Sprintf("a%d", i%7), fmt.Sprintf("b%02d", i%13), fmt.Sprintf("c%d", i/500))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, 0, err
		}
		n := s.minSmall + r.IntN(s.maxSmall-s.minSmall+1)
		fill(buf[:n])
		mode := fs.FileMode(0o644)
		if i%10 == 0 {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%04d", i)), buf[:n], mode); err != nil {
			return 0, 0, err
		}
		files++
		bytes += int64(n)
	}
	if err := os.MkdirAll(filepath.Join(dir, "big"), 0o755); err != nil {
		return 0, 0, err
	}
	for i := range s.big {
		f, err := os.Create(filepath.Join(dir, "big", fmt.Sprintf("blob%d.bin", i)))
		if err != nil {
			return 0, 0, err
		}
		for left := s.bigSize; left > 0; {
			n := min(left, int64(len(buf)))
			fill(buf[:n])
			if _, err := f.Write(buf[:n]); err != nil {
				f.Close()
				return 0, 0, err
			}
			left -= n
		}
		if err := f.Close(); err != nil {
			return 0, 0, err
		}
		files++
		bytes += s.bigSize
	}
	return files, bytes, nil
}

// treeSum is what `find . -type f -print0 | LC_ALL=C sort -z | xargs -0
// sha256sum | sha256sum` prints in dir: one hash over every file's path and
// content.
func treeSum(dir string) (files int, sum string, err error) {
	var paths []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		paths = append(paths, "./"+filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	sort.Strings(paths)
	outer := sha256.New()
	for _, p := range paths {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			return 0, "", err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return 0, "", err
		}
		fmt.Fprintf(outer, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), p)
	}
	return len(paths), hex.EncodeToString(outer.Sum(nil)), nil
}

// remoteTreeSum is treeSum computed on the droplet.
const remoteTreeSum = `cd %s && find . -type f | wc -l && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1`

// verify fails b unless dst on the droplet holds exactly src's files with
// src's content: a broken upload cannot look fast.
func verify(b *testing.B, c *remote.Client, src, dst, what string) {
	b.Helper()
	wantN, wantSum, err := treeSum(src)
	if err != nil {
		b.Fatal(err)
	}
	out, errOut, code, err := c.Output(context.Background(), fmt.Sprintf(remoteTreeSum, shell.Quote(dst)))
	if err != nil || code != 0 {
		b.Fatalf("%s: checking %s: %v %s", what, dst, err, errOut)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 || f[0] != fmt.Sprint(wantN) || f[1] != wantSum {
		b.Fatalf("%s: %s on the droplet has %q, want %d files with sum %s", what, dst, out, wantN, wantSum)
	}
}

// mustRun runs a command on the droplet.
func mustRun(b *testing.B, c *remote.Client, cmd string) {
	b.Helper()
	_, errOut, code, err := c.Output(context.Background(), cmd)
	if err != nil || code != 0 {
		b.Fatalf("%s: exit %d %v %s", cmd, code, err, errOut)
	}
}

// runTool runs the built binary with only PATH and HOME from the
// environment and returns its output and resource usage.
func runTool(b *testing.B, ctx context.Context, args ...string) (stdout, stderr string, st *os.ProcessState, err error) {
	b.Helper()
	cmd := testutil.Command(ctx, env.e.Bin, env.root, nil, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err = cmd.Run()
	return so.String(), se.String(), cmd.ProcessState, err
}

func readManifest(b *testing.B, path string) *report.Manifest {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var m report.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		b.Fatal(err)
	}
	return &m
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

var tail = testutil.Tail
