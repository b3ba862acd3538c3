package validate

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The Dockerfile checked offline, without an engine: its instructions, that
// every file it copies is staged and not excluded by .dockerignore, and that
// its HEALTHCHECK command works against the staged server. CI also builds the
// image and starts it on a real engine (scripts/container-check.sh, `make
// image-check`).

const root = "../.."

type instruction struct {
	cmd  string // upper case
	args string
}

func dockerfile(t *testing.T) []instruction {
	raw, err := os.ReadFile(filepath.Join(root, "deploy/Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur string
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur += strings.TrimSuffix(trimmed, `\`) + " "
			continue
		}
		cur += trimmed
		cmd, args, _ := strings.Cut(cur, " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur = ""
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := dockerfile(t)
	var user, volume, health, entry, workdir string
	var copies []string
	var env []string
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			// Nothing to pull: the image must build offline from CI's binaries.
			if base, _, _ := strings.Cut(in.args, " "); base != "scratch" {
				t.Errorf("FROM %s: the final image must build from scratch and staged binaries", in.args)
			}
		case "USER":
			user = in.args
		case "VOLUME":
			volume = in.args
		case "HEALTHCHECK":
			health = in.args
		case "ENTRYPOINT":
			entry = in.args
		case "WORKDIR":
			workdir = in.args
		case "ENV":
			env = append(env, in.args)
		case "COPY":
			f := strings.Fields(in.args)
			for _, a := range f[:len(f)-1] {
				if strings.HasPrefix(a, "--from") {
					t.Errorf("COPY %s: copies from another stage or image", in.args)
				}
				if !strings.HasPrefix(a, "--") {
					copies = append(copies, a)
				}
			}
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric non-root user (scratch has no passwd file)", user)
	}
	if volume == "" || !strings.Contains(volume, workdir) {
		t.Errorf("VOLUME %q: want the data volume, the working directory %q", volume, workdir)
	}
	if entry != `["/usr/local/bin/aspstated"]` {
		t.Errorf("ENTRYPOINT %s", entry)
	}
	cmd := healthCommand(t, health)

	// Everything copied is staged by make image-context and let through by
	// .dockerignore.
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	var allowed []string
	for _, l := range strings.Split(string(ignore), "\n") {
		if strings.HasPrefix(l, "!") {
			allowed = append(allowed, strings.TrimPrefix(l, "!"))
		}
	}
	if _, err := os.Stat(filepath.Join(root, "bin/image/aspstated")); err != nil {
		t.Skip("binaries not staged: run make image-context (make deploy-check does)")
	}
	for _, c := range copies {
		if _, err := os.Stat(filepath.Join(root, c)); err != nil {
			t.Errorf("COPY source %s: %v", c, err)
		}
		ok := false
		for _, a := range allowed {
			ok = ok || strings.HasPrefix(c, a)
		}
		if !ok {
			t.Errorf("COPY source %s is excluded by .dockerignore", c)
		}
	}
	runHealthCheck(t, cmd, env, workdir)
}

// healthCommand returns the exec form of HEALTHCHECK ... CMD [...].
func healthCommand(t *testing.T, health string) []string {
	_, form, ok := strings.Cut(health, "CMD ")
	if !ok || !strings.HasPrefix(strings.TrimSpace(form), "[") {
		t.Fatalf("HEALTHCHECK %q: want CMD in exec form (scratch has no shell)", health)
	}
	var cmd []string
	if err := yaml.Unmarshal([]byte(form), &cmd); err != nil || len(cmd) == 0 {
		t.Fatalf("HEALTHCHECK CMD %s: %v", form, err)
	}
	return cmd
}

// runHealthCheck starts the staged server as the image would (its ENV, in
// its working directory, with the bbolt backend at the default relative
// path), but on a free loopback port, and runs the health check command
// against it: healthy while it serves, unhealthy once it is gone.
func runHealthCheck(t *testing.T, cmd, env []string, workdir string) {
	staged, err := filepath.Abs(filepath.Join(root, "bin/image"))
	if err != nil {
		t.Fatal(err)
	}
	bin := func(p string) string { return filepath.Join(staged, filepath.Base(p)) }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := t.TempDir()
	srv := exec.Command(bin("/usr/local/bin/aspstated"), "--backend.type", "bbolt")
	srv.Dir = data // WORKDIR
	srv.Env = os.Environ()
	for _, e := range env {
		srv.Env = append(srv.Env, strings.Replace(e, " ", "=", 1))
	}
	srv.Env = append(srv.Env, "ASPSTATE_LISTEN="+addr)
	if !strings.Contains(strings.Join(srv.Env, " "), "ASPSTATE_LISTEN=0.0.0.0:42424") {
		t.Errorf("the image does not listen on every address (ENV %v)", env)
	}
	var out strings.Builder
	srv.Stdout, srv.Stderr = &out, &out
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	check := func() error {
		args := append([]string(nil), cmd[1:]...)
		for i, a := range args {
			if a == "127.0.0.1:42424" {
				args[i] = addr
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, bin(cmd[0]), args...).Run()
	}
	deadline := time.Now().Add(20 * time.Second)
	for check() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("health check never passed; server output:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(data, "aspstate.db")); err != nil {
		t.Errorf("the default bbolt file is not in the working directory (%s): %v", workdir, err)
	}
	srv.Process.Signal(os.Interrupt)
	srv.Wait()
	if check() == nil {
		t.Error("health check passed with the server stopped")
	}
}

// Compose files publish the state port on loopback unless the user sets
// ASPSTATE_PUBLISH_ADDR.
func TestComposePublishesOnLoopback(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "deploy/compose*.yaml"))
	if len(files) == 0 {
		t.Fatal("no compose files")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Services map[string]struct {
				Ports []string `json:"ports"`
			} `json:"services"`
		}
		if err := yaml.Unmarshal(raw, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		n := 0
		for name, s := range c.Services {
			for _, p := range s.Ports {
				n++
				if !strings.HasPrefix(p, "${ASPSTATE_PUBLISH_ADDR:-127.0.0.1}:") && !strings.HasPrefix(p, "127.0.0.1:") {
					t.Errorf("%s: service %s publishes %q beyond loopback by default", filepath.Base(f), name, p)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: publishes no port", filepath.Base(f))
		}
	}
}
