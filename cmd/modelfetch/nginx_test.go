package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/djok/modelfetch/internal/testutil"
)

// nginxConf stands in for a company's artifact proxy: /github/ serves the
// folder to requests that carry the proxy's token, /hf/ to anyone. The
// access log records each request's host and Authorization header.
const nginxConf = `pid {{P}}/nginx.pid;
error_log {{P}}/error.log info;
events { worker_connections 64; }
http {
  log_format proxy '$host $request_method $uri auth="$http_authorization" $status';
  access_log {{P}}/access.log proxy;
  client_body_temp_path {{P}}/tmp/body;
  proxy_temp_path {{P}}/tmp/proxy;
  fastcgi_temp_path {{P}}/tmp/fastcgi;
  uwsgi_temp_path {{P}}/tmp/uwsgi;
  scgi_temp_path {{P}}/tmp/scgi;
  server {
    listen 127.0.0.1:{{PORT}};
    location /github/ {
      if ($http_authorization != "Bearer {{TOKEN}}") { return 401; }
      alias {{DIR}}/;
    }
    location /hf/ { alias {{DIR}}/; }
  }
}
`

// nginx DIR TOKEN starts a real nginx on loopback (the journey's company
// proxy, see nginxConf), in the foreground as one process, with its pid,
// logs and temp files in $WORK/nginx; it sets $PROXY_PORT and is stopped
// by its PID when the script ends.
func cmdNginx(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: nginx DIR TOKEN")
	}
	bin := nginxBinary()
	if bin == "" {
		ts.Fatalf("nginx is not installed (guard the script with [!nginx] skip)")
	}
	prefix := ts.MkAbs("nginx")
	ts.Check(os.MkdirAll(filepath.Join(prefix, "tmp"), 0o755))
	port := freePort(ts)
	conf := strings.NewReplacer("{{P}}", prefix, "{{PORT}}", port, "{{TOKEN}}", args[1], "{{DIR}}", ts.MkAbs(args[0])).Replace(nginxConf)
	writeFile(ts, "nginx/nginx.conf", []byte(conf))
	cmd := exec.Command(bin, "-p", prefix, "-c", filepath.Join(prefix, "nginx.conf"), "-e", filepath.Join(prefix, "error.log"),
		"-g", "daemon off; master_process off;")
	out, err := os.Create(filepath.Join(prefix, "stderr.log"))
	ts.Check(err)
	cmd.Stdout, cmd.Stderr = out, out
	ts.Check(cmd.Start())
	pid := cmd.Process.Pid
	ts.Defer(func() {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		_ = cmd.Wait()
		out.Close()
	})
	waitListening(ts, "127.0.0.1:"+port, prefix)
	ts.Setenv("PROXY_PORT", port)
}

// hasNginx is the [nginx] condition. Without nginx a script that needs it
// is skipped, except under CI=true, where it fails: CI installs nginx.
func hasNginx() (bool, error) {
	if nginxBinary() != "" {
		return true, nil
	}
	return false, testutil.MissingErr("nginx is not installed (apt-get install nginx): the url rules journey needs it")
}

func nginxBinary() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// waitListening waits up to 10s for addr to accept connections.
func waitListening(ts *testscript.TestScript, addr, prefix string) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	b, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
	ts.Fatalf("nginx did not start listening on %s:\n%s", addr, b)
}

// freePort returns a loopback port that nothing listened on a moment ago.
func freePort(ts *testscript.TestScript) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// deadport VAR sets VAR to a loopback port that nothing listens on.
func cmdDeadport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: deadport VAR")
	}
	ts.Setenv(args[0], freePort(ts))
}

// countlines N PATTERN FILE checks that N lines of FILE match PATTERN.
func cmdCountlines(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: countlines N PATTERN FILE")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	for _, l := range strings.Split(ts.ReadFile(args[2]), "\n") {
		if strings.Contains(l, args[1]) {
			got++
		}
	}
	if got != want {
		ts.Fatalf("%d lines of %s contain %q, want %d", got, args[2], args[1], want)
	}
	fmt.Fprintf(ts.Stdout(), "%d\n", got)
}
