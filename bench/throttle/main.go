// Command throttle serves a folder over HTTP on loopback with Range support,
// limiting each connection to a fixed rate: the way release CDNs and model
// hosts throttle per connection. It is the server of bench/run.sh.
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	dir := flag.String("dir", ".", "folder to serve")
	rate := flag.Int64("rate", 20<<20, "bytes per second per connection; 0 for no limit")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if *rate > 0 {
		ln = &throttled{Listener: ln, rate: *rate}
	}
	log.Printf("serving %s on http://%s", *dir, ln.Addr())
	log.Fatal(http.Serve(ln, http.FileServer(http.Dir(*dir))))
}

type throttled struct {
	net.Listener
	rate int64
}

func (t *throttled) Accept() (net.Conn, error) {
	c, err := t.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, rate: t.rate, start: time.Now()}, nil
}

// conn paces writes so the connection never runs ahead of rate bytes/s.
type conn struct {
	net.Conn
	rate  int64
	start time.Time
	sent  int64
}

func (c *conn) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := min(len(p)-n, 64<<10)
		due := c.start.Add(time.Duration(float64(c.sent+int64(m)) / float64(c.rate) * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		w, err := c.Conn.Write(p[n : n+m])
		n += w
		c.sent += int64(w)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

var _ io.Writer = (*conn)(nil)
