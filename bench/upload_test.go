package bench

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/shell"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// envInt0 is envInt where 0 is a valid choice.
func envInt0(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

// BenchmarkUpload is issue 9's upload of files/ into a local-cloud droplet:
// 5,000 small files (100 B-8 KB, nested) plus 200 MB of incompressible
// larger files. In one run, interleaved, on one droplet:
//   - tool: the tool's upload (remote.Client.Upload, one tar stream);
//   - tar-ssh: `tar -c | ssh root@IP tar -x` (the limit of one SSH channel);
//   - sftp: file by file over SFTP (github.com/pkg/sftp), one file at a
//     time as a Packer file provisioner does, on the small files.
//
// Every upload is verified on the droplet (file count and a checksum over
// paths and contents). Then the real binary uploads the same tree in a
// `build --host --mode build_base` run, and its peak RSS is reported.
// The small files also go through a proxy adding MP_BENCH_RTT_MS of round
// trip (default 2) for the tool and SFTP.
// MP_BENCH_ROUNDS (default 3) sets how many interleaved rounds are timed;
// figures are medians.
func BenchmarkUpload(b *testing.B) {
	need(b)
	rounds := envInt("MP_BENCH_ROUNDS", 3)
	recipeDir := b.TempDir()
	src := filepath.Join(recipeDir, "files", "opt", "bench") // lands in /opt/bench
	files, size, err := generate(src, issueTree)
	if err != nil {
		b.Fatal(err)
	}
	small := filepath.Join(src, "small")
	b.Logf("tree: %d files, %.1f MB", files, float64(size)/1e6)

	d := boot(b, env.godo, "bench-upload")
	c := d.dial(b, "")
	sshArgs := systemSSH(b, d)
	sc := sftpClient(b, d, net.JoinHostPort(d.ip, "22"))

	type method struct {
		name string
		src  string
		run  func(src, dst string) error
	}
	methods := []method{
		{"tool", src, func(s, dst string) error {
			_, err := c.Upload(context.Background(), s, dst, remote.UploadOptions{Method: "tar"})
			return err
		}},
		{"tar-ssh", src, func(s, dst string) error { return testutil.TarOverSSH(sshArgs, s, "tar -x -C "+shell.Quote(dst)) }},
		{"tool-small", small, func(s, dst string) error {
			_, err := c.Upload(context.Background(), s, dst, remote.UploadOptions{Method: "tar"})
			return err
		}},
		{"tar-ssh-small", small, func(s, dst string) error { return testutil.TarOverSSH(sshArgs, s, "tar -x -C "+shell.Quote(dst)) }},
		{"sftp-small", small, func(s, dst string) error { return testutil.SFTPFileByFile(sc, s, dst) }},
	}
	// The droplet's link has no latency, which hides what file-by-file
	// SFTP pays per round trip on a real network; the same small files go
	// again through a proxy that adds MP_BENCH_RTT_MS (default 2 ms, about
	// a CI runner to a droplet in the same region; 0 skips it).
	rtt := time.Duration(envInt0("MP_BENCH_RTT_MS", 2)) * time.Millisecond
	if rtt > 0 {
		px := delayProxy(b, net.JoinHostPort(d.ip, "22"), rtt/2)
		cr := d.dial(b, px)
		scr := sftpClient(b, d, px)
		methods = append(methods,
			method{"tool-small-rtt", small, func(s, dst string) error {
				_, err := cr.Upload(context.Background(), s, dst, remote.UploadOptions{Method: "tar"})
				return err
			}},
			method{"sftp-small-rtt", small, func(s, dst string) error { return testutil.SFTPFileByFile(scr, s, dst) }})
	}
	if os.Getenv("MP_BENCH_SFTP_BIG") == "1" {
		methods = append(methods, method{"sftp", src, func(s, dst string) error { return testutil.SFTPFileByFile(sc, s, dst) }})
	}
	times := map[string][]float64{}
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			for _, m := range methods {
				dst := "/srv/bench-" + m.name
				mustRun(b, c, "rm -rf "+dst+" && mkdir -p "+dst+" && sync")
				start := time.Now()
				if err := m.run(m.src, dst); err != nil {
					b.Fatalf("%s: %v", m.name, err)
				}
				times[m.name] = append(times[m.name], time.Since(start).Seconds())
				if r == 0 {
					verify(b, c, m.src, dst, m.name)
				}
				mustRun(b, c, "rm -rf "+dst)
			}
		}
	}
	med := func(n string) float64 { return median(times[n]) }
	for _, m := range methods {
		b.ReportMetric(med(m.name), m.name+"-s")
	}
	b.ReportMetric(med("tool")/med("tar-ssh"), "tool/tar-ssh")
	b.ReportMetric(med("sftp-small")/med("tool-small"), "sftp-small/tool-small")
	if rtt > 0 {
		b.ReportMetric(med("sftp-small-rtt")/med("tool-small-rtt"), "sftp/tool-small-rtt")
		b.ReportMetric(rtt.Seconds()*1000, "rtt-ms")
	}
	b.ReportMetric(float64(size)/1e6/med("tool"), "tool-MB/s")

	// The real binary uploads the same files/ in a build_base --host run;
	// its peak RSS covers the whole run, the 200 MB upload included.
	keyFile := filepath.Join(b.TempDir(), "id")
	if err := d.key.WritePrivateKey(keyFile); err != nil {
		b.Fatal(err)
	}
	manifest := filepath.Join(b.TempDir(), "manifest.json")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	so, se, st, err := runTool(b, ctx, "build", "--host", d.ip, "--ssh-key", keyFile, "--mode", "build_base",
		"--dir", recipeDir, "--vendor", "bench", "--manifest", manifest)
	if st == nil {
		b.Fatalf("mp-image did not run: %v", err)
	}
	m := readManifest(b, manifest)
	provisioned := false
	for _, s := range m.Steps {
		if s.Name == "provision" && s.Status == "ok" {
			provisioned = true
		}
	}
	if !provisioned {
		b.Fatalf("mp-image build --host: provision did not succeed (%v)\nstdout:\n%s\nstderr:\n%s", err, tail(so, 40), tail(se, 20))
	}
	verify(b, c, src, "/opt/bench", "mp-image build --host")
	ru := st.SysUsage().(*syscall.Rusage)
	b.ReportMetric(float64(ru.Maxrss)/1024, "peak-rss-MB") // Linux: KiB
}

// systemSSH writes the key and a known_hosts with the pinned host key and
// returns the ssh arguments that log in as root with them.
func systemSSH(b *testing.B, d *droplet) []string {
	b.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		b.Fatal("the tar-over-ssh comparison needs the ssh client (apt-get install openssh-client)")
	}
	dir := b.TempDir()
	keyFile := filepath.Join(dir, "id")
	if err := d.key.WritePrivateKey(keyFile); err != nil {
		b.Fatal(err)
	}
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(d.ip+" "+string(ssh.MarshalAuthorizedKey(d.hk.Public))), 0o600); err != nil {
		b.Fatal(err)
	}
	return []string{"-F", "/dev/null", "-i", keyFile, "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=" + kh,
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "root@" + d.ip}
}

func sftpClient(b *testing.B, d *droplet, addr string) *sftp.Client {
	b.Helper()
	cfg := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(d.key.Signer)},
		HostKeyCallback: ssh.FixedHostKey(d.hk.Public), Timeout: 10 * time.Second}
	conn, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := sftp.NewClient(conn)
	if err != nil {
		conn.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() { sc.Close(); conn.Close() })
	return sc
}
