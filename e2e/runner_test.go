package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
	"github.com/mp-image-action/mp-image-action/internal/testutil/cloudenv"
)

// ghRunner runs the action image as actions/runner runs a Docker action
// (src/Runner.Worker/Handlers/ContainerActionHandler.cs and
// Container/DockerCommandManager.cs, DockerRun), with podman in docker's place:
//
//	docker run --name NAME --label LABEL --workdir /github/workspace --rm
//	  -e NAME... (names only; values come from the client's environment)
//	  -e GITHUB_ACTIONS=true -e CI=true [--entrypoint "POST"] --network NET
//	  -v /var/run/docker.sock:/var/run/docker.sock
//	  -v TEMP:/github/runner_temp -v TEMP/_github_home:/github/home
//	  -v TEMP/_github_workflow:/github/workflow
//	  -v TEMP/_runner_file_commands:/github/file_commands
//	  -v WORKSPACE:/github/workspace IMAGE "action"
//
// Environment values that are host paths under those mounts are rewritten
// to the container's paths (ContainerInfo.TranslateToContainerPath), and the
// file-command files get a fresh GUID suffix per step (FileCommandManager).
// Where this differs, on purpose:
//   - --network host instead of the job's bridge network: the local cloud
//     runs on this host (its API on loopback, its droplets on a host bridge);
//   - no docker.sock mount (there is no docker engine here);
//   - --ulimit nofile/nproc at this process's limits: runc cannot raise them
//     here (no CAP_SYS_RESOURCE), and podman's defaults would;
//   - legacyTemp: runners before v2.329.0 (actions/runner#4011) neither mount
//     RUNNER_TEMP nor translate it, so it names a host path the container
//     does not see (actions/runner#1984). Cases that depend on it use that.
type ghRunner struct {
	image      string
	workspace  string // the host's GITHUB_WORKSPACE
	temp       string // the host's RUNNER_TEMP
	legacyTemp bool
}

func newRunner(t *testing.T, image string) *ghRunner {
	t.Helper()
	root := t.TempDir()
	r := &ghRunner{image: image, workspace: filepath.Join(root, "work", "repo", "repo"), temp: filepath.Join(root, "work", "_temp")}
	for _, d := range []string{r.workspace, filepath.Join(r.temp, "_github_home"), filepath.Join(r.temp, "_github_workflow"), filepath.Join(r.temp, "_runner_file_commands")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// stepRun is one started step: the podman client process and what it printed.
type stepRun struct {
	r       *ghRunner
	name    string // container name
	cmd     *exec.Cmd
	out     testutil.SyncBuffer // stdout and stderr in arrival order, as the runner reads both
	stdout  testutil.SyncBuffer
	stderr  testutil.SyncBuffer
	files   map[string]string // GITHUB_OUTPUT ... -> host path of this step's file
	done    chan struct{}
	code    int
	waitErr error
}

// fileCommands are the runner's per-step files: env name -> file prefix.
var fileCommands = map[string]string{
	"GITHUB_OUTPUT": "set_output_", "GITHUB_STATE": "save_state_", "GITHUB_ENV": "set_env_",
	"GITHUB_PATH": "add_path_", "GITHUB_STEP_SUMMARY": "step_summary_",
}

// start starts a step: stage "main" or "post"; inputs as the workflow's
// with: (the action's defaults fill the rest, as the runner does); state is
// what the main step saved (post only).
func (r *ghRunner) start(t *testing.T, stage string, inputs map[string]string, state map[string]string) *stepRun {
	t.Helper()
	return r.startArgs(t, stage, inputs, state, nil)
}

// startArgs starts a step; args non-nil makes it a `uses: docker://IMAGE`
// step with `with: args:` (no action.yml, so no declared inputs) and inputs
// its env: block.
func (r *ghRunner) startArgs(t *testing.T, stage string, inputs map[string]string, state map[string]string, runArgs []string) *stepRun {
	t.Helper()
	guid := randomHex(16)
	s := &stepRun{r: r, name: "mp-image-e2e-" + guid[:12], files: map[string]string{}, done: make(chan struct{})}
	vars := map[string]string{}
	// Handler.AddInputsToEnvironment: every declared input, defaults included.
	for _, o := range config.Options() {
		if runArgs == nil {
			vars["INPUT_"+strings.ToUpper(strings.ReplaceAll(o.Name, " ", "_"))] = o.Default
		}
	}
	for k, v := range inputs {
		if runArgs != nil {
			vars[k] = v // a docker:// step's env:
		} else {
			vars["INPUT_"+strings.ToUpper(k)] = v
		}
	}
	for k, v := range state {
		vars["STATE_"+k] = v
	}
	for env, prefix := range fileCommands {
		p := filepath.Join(r.temp, "_runner_file_commands", prefix+guid)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		s.files[env] = p
		vars[env] = p
	}
	home := filepath.Join(r.temp, "_github_home")
	for k, v := range map[string]string{
		"HOME": home, "GITHUB_WORKSPACE": r.workspace, "RUNNER_TEMP": r.temp,
		"GITHUB_EVENT_PATH": filepath.Join(r.temp, "_github_workflow", "event.json"),
		"GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": "1000", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_ACTION": "image",
		"GITHUB_ACTOR": "octocat", "GITHUB_REF": "refs/heads/main", "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
		"GITHUB_SERVER_URL": "https://github.com", "GITHUB_API_URL": "https://api.github.com", "GITHUB_JOB": "image",
		"RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "RUNNER_NAME": "e2e", "RUNNER_TOOL_CACHE": "/opt/hostedtoolcache",
		"ACTIONS_RUNTIME_URL": "https://results.invalid/", "ACTIONS_RUNTIME_TOKEN": "runtime-token-not-used",
	} {
		vars[k] = v
	}
	mounts := [][2]string{ // in the runner's order; TranslateToContainerPath tries the last added first
		{r.temp, "/github/runner_temp"},
		{home, "/github/home"},
		{filepath.Join(r.temp, "_github_workflow"), "/github/workflow"},
		{filepath.Join(r.temp, "_runner_file_commands"), "/github/file_commands"},
		{r.workspace, "/github/workspace"},
	}
	if r.legacyTemp {
		mounts = mounts[1:]
	}
	translate := func(v string) string {
		for i := len(mounts) - 1; i >= 0; i-- {
			host, ctr := mounts[i][0], mounts[i][1]
			if v == host {
				return ctr
			}
			if strings.HasPrefix(v, host+"/") {
				return ctr + strings.TrimPrefix(v, host)
			}
		}
		return v
	}
	var nofile syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile)
	args := []string{"--runtime", "runc", "run", "--name", s.name, "--label", "mp-image-e2e", "--workdir", "/github/workspace", "--rm"}
	clientEnv := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range vars {
		args = append(args, "-e", k)
		clientEnv = append(clientEnv, k+"="+translate(v))
	}
	args = append(args, "-e", "GITHUB_ACTIONS=true", "-e", "CI=true")
	if stage == "post" {
		args = append(args, "--entrypoint", "/mp-image-post")
	}
	args = append(args, "--network", "host",
		"--ulimit", fmt.Sprintf("nofile=%d:%d", nofile.Cur, nofile.Cur), "--ulimit", "nproc=4096:4096")
	for _, m := range mounts {
		args = append(args, "-v", m[0]+":"+m[1])
	}
	if runArgs == nil {
		runArgs = []string{"action"} // runs.args, passed to the post step too
	}
	args = append(append(args, r.image), runArgs...)
	s.cmd = exec.Command("podman", args...)
	s.cmd.Dir = r.workspace
	s.cmd.Env = clientEnv
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	s.cmd.Stdout, s.cmd.Stderr = outW, errW
	var wg sync.WaitGroup
	copyLines := func(rd io.Reader, own *testutil.SyncBuffer) {
		defer wg.Done()
		sc := bufio.NewScanner(rd)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			own.Write([]byte(sc.Text() + "\n"))
			s.out.Write([]byte(sc.Text() + "\n"))
		}
		io.Copy(io.Discard, rd)
	}
	wg.Add(2)
	go copyLines(outR, &s.stdout)
	go copyLines(errR, &s.stderr)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("podman run: %v", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		outW.Close()
		errW.Close()
		wg.Wait()
		if ee, ok := s.waitErr.(*exec.ExitError); ok {
			s.code = ee.ExitCode()
		} else if s.waitErr != nil {
			s.code = -1
		}
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			exec.Command("podman", "rm", "-f", "-t", "0", s.name).Run()
			<-s.done
		}
		if t.Failed() {
			t.Logf("%s step %s: exit %d\n%s", stage, s.name, s.code, tail(s.out.String(), 60))
		}
	})
	return s
}

// wait waits for the step to end and returns its exit code.
func (s *stepRun) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(limit):
		t.Fatalf("step %s still running after %s", s.name, limit)
		return -1
	}
}

// runArgs runs a `uses: docker://IMAGE` step with args and waits for it.
func (r *ghRunner) runArgs(t *testing.T, stepEnv map[string]string, args []string) *stepRun {
	t.Helper()
	s := r.startArgs(t, "main", stepEnv, nil, args)
	s.wait(t, 10*time.Minute)
	return s
}

// run starts a step and waits for it.
func (r *ghRunner) run(t *testing.T, stage string, inputs, state map[string]string) *stepRun {
	t.Helper()
	s := r.start(t, stage, inputs, state)
	s.wait(t, 25*time.Minute)
	return s
}

// cancel does what the runner does to a cancelled step's `docker run`
// (ProcessInvoker.CancelAndKillProcessTree with killProcessOnCancel false):
// SIGINT to the client, which forwards it to the container; 7.5 s later
// SIGTERM; 2.5 s later SIGKILL. It returns how long the step took to end.
//
// The forwarding is done here, with `podman kill -s`, rather than by
// signalling the podman client: Debian 12's podman 4.3 installs its signal
// proxy only after the container has started, and a SIGINT in that window
// makes the client exit 1 and leave the container running, never signalled.
// The docker CLI the runner drives installs its proxy before the start, so
// the container always gets the signal; forwarding it here models that. At
// SIGKILL both go, client and container, as on a runner's teardown.
func (s *stepRun) cancel(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	for _, step := range []struct {
		sig   string
		grace time.Duration
	}{{"INT", 7500 * time.Millisecond}, {"TERM", 2500 * time.Millisecond}, {"KILL", 0}} {
		s.signal(t, step.sig)
		if step.sig == "KILL" {
			s.cmd.Process.Signal(syscall.SIGKILL)
		}
		select {
		case <-s.done:
			return time.Since(start)
		case <-time.After(step.grace):
		}
	}
	s.wait(t, time.Minute)
	return time.Since(start)
}

// kill stops the container at once (SIGKILL), as when its cleanup overruns
// the runner's 10 s or the machine goes away: only the post step can clean.
func (s *stepRun) kill(t *testing.T) {
	t.Helper()
	s.signal(t, "KILL")
	s.wait(t, time.Minute)
}

// signal sends sig (INT, TERM, KILL) to the step's container.
func (s *stepRun) signal(t *testing.T, sig string) {
	t.Helper()
	if out, err := exec.Command("podman", "kill", "-s", sig, s.name).CombinedOutput(); err != nil {
		t.Logf("podman kill -s %s: %v: %s", sig, err, out)
	}
}

// fileCmd reads one of the step's runner files as the runner parses it.
func (s *stepRun) fileCmd(t *testing.T, env string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(s.files[env])
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseEnvFile(string(data))
	if err != nil {
		t.Fatalf("%s: the runner would fail this step: %v\n%s", env, err, data)
	}
	return m
}

func (s *stepRun) raw(t *testing.T, env string) string {
	t.Helper()
	data, err := os.ReadFile(s.files[env])
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// parseEnvFile parses GITHUB_OUTPUT/STATE/ENV as actions/runner's
// EnvFileKeyValuePairs does: NAME=VALUE when '=' comes before any '<<',
// else NAME<<DELIM with lines up to a line equal to DELIM; a missing
// delimiter or name fails the step.
func parseEnvFile(text string) (map[string]string, error) {
	out := map[string]string{}
	lines := strings.SplitAfter(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSuffix(lines[i], "\n")
		if line == "" {
			continue
		}
		eq, hd := strings.Index(line, "="), strings.Index(line, "<<")
		switch {
		case eq >= 0 && (hd < 0 || eq < hd):
			if eq == 0 {
				return nil, fmt.Errorf("invalid format %q: name must not be empty", line)
			}
			out[line[:eq]] = line[eq+1:]
		case hd >= 0:
			name, delim := line[:hd], line[hd+2:]
			if name == "" || delim == "" {
				return nil, fmt.Errorf("invalid format %q", line)
			}
			var val []string
			j := i + 1
			for ; j < len(lines) && strings.TrimSuffix(lines[j], "\n") != delim; j++ {
				if !strings.HasSuffix(lines[j], "\n") {
					return nil, fmt.Errorf("EOF marker missing new line")
				}
				val = append(val, strings.TrimSuffix(lines[j], "\n"))
			}
			if j == len(lines) {
				return nil, fmt.Errorf("matching delimiter not found %q", delim)
			}
			out[name] = strings.Join(val, "\n")
			i = j
		default:
			return nil, fmt.Errorf("invalid format %q", line)
		}
	}
	return out, nil
}

// workflowCmd is one workflow command the runner would act on.
type workflowCmd struct {
	index int // line number in the step's output, from 0
	name  string
	props map[string]string
	data  string
}

// runnerCommands are the commands actions/runner registers (ActionCommandManager).
var runnerCommands = map[string]bool{"add-mask": true, "group": true, "endgroup": true, "error": true, "warning": true,
	"notice": true, "debug": true, "echo": true, "set-output": true, "save-state": true, "set-env": true, "add-path": true,
	"add-matcher": true, "remove-matcher": true, "stop-commands": true}

// parseCommands reads a step's output (stdout and stderr, which the runner
// both scans) as ActionCommand.TryParseV2 does: the line, left-trimmed,
// starts with ::NAME[ k=v,...]::DATA, NAME one of the runner's commands;
// properties and data are unescaped.
func parseCommands(output string) []workflowCmd {
	var cmds []workflowCmd
	unProp := strings.NewReplacer("%0D", "\r", "%0A", "\n", "%3A", ":", "%2C", ",", "%25", "%")
	unData := strings.NewReplacer("%0D", "\r", "%0A", "\n", "%25", "%")
	for i, line := range strings.Split(output, "\n") {
		msg := strings.TrimLeft(line, " \t")
		if !strings.HasPrefix(msg, "::") {
			continue
		}
		end := strings.Index(msg[2:], "::")
		if end < 0 {
			continue
		}
		info := msg[2 : 2+end]
		name, propStr, _ := strings.Cut(info, " ")
		if !runnerCommands[name] {
			continue
		}
		c := workflowCmd{index: i, name: name, props: map[string]string{}, data: unData.Replace(msg[2+end+2:])}
		for _, p := range strings.Split(strings.TrimSpace(propStr), ",") {
			if k, v, ok := strings.Cut(p, "="); ok && k != "" && v != "" {
				c.props[k] = unProp.Replace(v)
			}
		}
		cmds = append(cmds, c)
	}
	return cmds
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// actionImage is the image built once for the package's container tests.
var actionImage struct {
	once sync.Once
	name string
	skip string // why containers cannot run here
	err  error
}

// needImage builds the action image from the Dockerfile with scripts/image
// (podman), once, and checks that a container can run here. It skips with
// the reason when no container runtime can run; a broken image fails.
func needImage(t *testing.T) string {
	t.Helper()
	need(t)
	actionImage.once.Do(func() {
		if _, err := exec.LookPath("podman"); err != nil {
			actionImage.skip = "podman is not installed (scripts/test installs podman, buildah and runc)"
			return
		}
		name := "localhost/mp-image-action:e2e-" + randomHex(4)
		start := time.Now()
		cmd := exec.Command(filepath.Join(env.root, "scripts", "image"), "--tag", name, "--version", "e2e")
		cmd.Dir = env.root
		cmd.Env = append(os.Environ(), "MP_IMAGE_ENGINE=podman")
		out, err := cmd.CombinedOutput()
		if err != nil {
			actionImage.err = fmt.Errorf("scripts/image: %v\n%s", err, tail(string(out), 30))
			return
		}
		fmt.Fprintf(os.Stderr, "container tests: built %s in %s\n", name, time.Since(start).Round(time.Second))
		actionImage.name = name
		probe := exec.Command("podman", "--runtime", "runc", "run", "--rm", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", name, "version")
		var so, se bytes.Buffer
		probe.Stdout, probe.Stderr = &so, &se
		err = probe.Run()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() >= 125 {
			// 125-127: the engine or the runtime failed, not the image.
			actionImage.skip = "no container runtime can run here: podman --runtime runc run: " + strings.TrimSpace(se.String())
			return
		}
		if err != nil || strings.TrimSpace(so.String()) != "mp-image e2e" {
			actionImage.err = fmt.Errorf("the image does not run: %v: %q %q", err, so.String(), se.String())
		}
	})
	if actionImage.err != nil {
		t.Fatal(actionImage.err)
	}
	if actionImage.skip != "" {
		fmt.Fprintln(os.Stderr, "CONTAINER TESTS SKIPPED: "+actionImage.skip)
		// Under MP_REQUIRE_E2E (scripts/test, CI) this fails: a skip there
		// would count as a pass for tests that never ran.
		cloudenv.Need(t, actionImage.skip)
	}
	return actionImage.name
}

// removeImage drops the test image.
func removeImage() {
	if actionImage.name != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		exec.CommandContext(ctx, "podman", "rmi", "-f", actionImage.name).Run()
	}
}
