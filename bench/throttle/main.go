// Command throttle serves a folder on loopback the way release CDNs do, for
// bench/run.sh: Range requests, each TCP connection paced to a fixed rate
// with no burst credit for idle connections, an optional cap on the whole
// link, HTTPS with HTTP/2 offered under a CA it makes at start, and an
// optional redirect hop from a first host to a second (GitHub → its storage
// host).
//
// It prints one line, "serving DIR on URL" (and "→ URL" of the second host
// with -redirect), once it accepts connections and the CA file is written.
// With -count it also prints "served METHOD PATH STATUS BYTES" as each request
// for a file ends, BYTES being the body bytes sent, so a script can count what
// its clients took from this origin (bench/farm.sh). With -timeline FILE it
// samples the requests in flight and the bytes sent (timeline.go).
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "127.0.0.1:0", "listen address (loopback); with -redirect, the first host's")
	flag.StringVar(&c.dir, "dir", ".", "folder to serve")
	flag.Int64Var(&c.rate, "rate", 20<<20, "bytes per second per TCP connection; 0 for no limit")
	flag.Int64Var(&c.link, "link", 0, "bytes per second across all connections (125000000 is 1 Gb/s); 0 for no cap")
	flag.BoolVar(&c.tls, "tls", false, "serve HTTPS, offering HTTP/2 and HTTP/1.1, under a CA made at start")
	flag.StringVar(&c.caFile, "ca", "", "with -tls, write the CA certificate (PEM) here for clients to trust")
	flag.BoolVar(&c.redirect, "redirect", false, "answer 302 to the same path on a second listener, which serves the files")
	flag.DurationVar(&c.hopDelay, "hop-delay", 0, "with -redirect, how long the first host takes to answer")
	flag.BoolVar(&c.verbose, "v", false, "log each request: client address, protocol, method, path and range")
	count := flag.Bool("count", false, `log each finished request for a file: "served METHOD PATH STATUS BYTES" (body bytes sent)`)
	tlFile := flag.String("timeline", "", "append a sample of the requests in flight and the bytes sent to `FILE` every -timeline-every")
	tlEvery := flag.Duration("timeline-every", 100*time.Millisecond, "the interval of -timeline")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("throttle: ")
	if c.caFile != "" && !c.tls {
		log.Fatal("-ca needs -tls")
	}
	if *count {
		c.countTo = os.Stderr
	}
	if *tlFile != "" {
		f, err := os.OpenFile(*tlFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		c.timeline = newTimeline(f, *tlEvery)
	}
	s, err := start(c)
	if err != nil {
		log.Fatal(err)
	}
	if c.redirect {
		log.Printf("serving %s on %s → %s", c.dir, s.url, s.dataURL)
	} else {
		log.Printf("serving %s on %s", c.dir, s.url)
	}
	log.Fatal(<-s.errc)
}

type config struct {
	addr     string
	dir      string
	rate     int64 // bytes/s per connection; 0: none
	link     int64 // bytes/s across all connections; 0: none
	tls      bool
	caFile   string // "" : the CA is kept in server.caPEM only
	redirect bool
	hopDelay time.Duration
	verbose  bool      // log each request on stderr
	countTo  io.Writer // nil, or where each finished file request is logged with its bytes
	timeline *timeline // nil, or what samples the requests in flight
}

// server is a running throttle: one listener, or two with the redirect hop.
type server struct {
	url      string // where clients start
	dataURL  string // the host that serves the files (url without -redirect)
	caPEM    []byte // nil without TLS
	lns      []*pacedListener
	srvs     []*http.Server
	errc     chan error
	timeline *timeline // nil without -timeline
}

// start listens, writes the CA file, and serves in the background.
func start(c config) (*server, error) {
	s := &server{errc: make(chan error, 2), timeline: c.timeline}
	var link *bucket
	if c.link > 0 {
		link = newBucket(c.link, time.Now())
	}
	listen := func(addr string) (*pacedListener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		pl := &pacedListener{Listener: ln, rate: c.rate, link: link}
		s.lns = append(s.lns, pl)
		return pl, nil
	}
	first, err := listen(c.addr)
	if err != nil {
		return nil, err
	}
	data := first
	if c.redirect {
		// The second host listens on the same address, another port.
		host, _, _ := net.SplitHostPort(c.addr)
		if data, err = listen(net.JoinHostPort(host, "0")); err != nil {
			s.closeListeners()
			return nil, err
		}
	}
	var cfg *tls.Config
	scheme := "http"
	if c.tls {
		if cfg, err = s.tlsConfig(c, first.Addr().(*net.TCPAddr).IP); err != nil {
			s.closeListeners()
			return nil, err
		}
		scheme = "https"
	}
	s.url = scheme + "://" + first.Addr().String()
	s.dataURL = scheme + "://" + data.Addr().String()
	files := c.files()
	if c.redirect {
		var h http.Handler = hop(s.dataURL, c.hopDelay)
		if c.verbose {
			h = logged(h)
		}
		s.serve(first, h, cfg)
	}
	s.serve(data, files, cfg)
	return s, nil
}

// tlsConfig makes the certificates for ip, writes the CA to c.caFile when
// asked, and offers HTTP/2.
func (s *server) tlsConfig(c config, ip net.IP) (*tls.Config, error) {
	cert, caPEM, err := newCerts(ip)
	if err != nil {
		return nil, err
	}
	if c.caFile != "" {
		if err := writeFile(c.caFile, caPEM); err != nil {
			return nil, err
		}
	}
	s.caPEM = caPEM
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// files is the handler of the folder, with the logging and sampling c asks
// for (the timeline's sampler starts with it).
func (c config) files() http.Handler {
	var files http.Handler = http.FileServer(http.Dir(c.dir)) // Range through http.ServeContent
	if c.countTo != nil {
		files = counted(files, log.New(c.countTo, "throttle: ", 0))
	}
	if c.verbose {
		files = logged(files)
	}
	if c.timeline != nil {
		files = c.timeline.wrap(files)
		go c.timeline.run()
	}
	return files
}

func (s *server) serve(ln net.Listener, h http.Handler, cfg *tls.Config) {
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         cfg.Clone(), // ServeTLS writes to it
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(os.Stderr, "throttle: ", 0),
	}
	s.srvs = append(s.srvs, srv)
	go func() {
		var err error
		if cfg != nil {
			err = srv.ServeTLS(ln, "", "") // HTTP/2 comes with ServeTLS
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			s.errc <- err
		}
	}()
}

// accepted counts the TCP connections accepted on all listeners.
func (s *server) accepted() int64 {
	var n int64
	for _, ln := range s.lns {
		n += ln.accepted.Load()
	}
	return n
}

// Close stops listening and drops every connection.
func (s *server) Close() error {
	var errs []error
	for _, srv := range s.srvs {
		errs = append(errs, srv.Close())
	}
	s.closeListeners() // a Serve not yet running has not taken its listener
	if s.timeline != nil {
		s.timeline.close()
	}
	return errors.Join(errs...)
}

func (s *server) closeListeners() {
	for _, ln := range s.lns {
		ln.Close()
	}
}

// hop answers every request with a redirect to the same path on to, after
// delay (the time a real first host takes to answer).
func hop(to string, delay time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if delay > 0 {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
		}
		http.Redirect(w, r, to+r.URL.RequestURI(), http.StatusFound)
	})
}

// logged logs each request before h answers it; the client's address tells
// its TCP connections apart.
func logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s %s %s %s %s", r.RemoteAddr, r.Proto, r.Host, r.Method, r.URL.Path, r.Header.Get("Range"))
		h.ServeHTTP(w, r)
	})
}

// counted logs each request h answered once it ends, with the status and the
// body bytes written (what the client took, even when it hung up early).
func counted(h http.Handler, lg *log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(cw, r)
		lg.Printf("served %s %s %d %d", r.Method, r.URL.Path, cw.status, cw.n)
	})
}

// countingWriter counts the body bytes written through it and keeps the status.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
	wrote  bool
}

func (w *countingWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeFile writes b to name through a temporary file, so a reader never
// sees half a certificate.
func writeFile(name string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".ca-*")
	if err != nil {
		return fmt.Errorf("write ca %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write ca %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write ca %s: %w", name, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write ca %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("write ca %s: %w", name, err)
	}
	return nil
}
