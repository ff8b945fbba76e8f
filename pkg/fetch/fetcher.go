package fetch

import (
	"net/http"
	"sync"
	"time"

	"github.com/djok/modelfetch/internal/retry"
	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/mirror"
)

// Options configure a Fetcher. The zero value is usable: every field states
// what its zero means.
type Options struct {
	// Jobs is how many artifacts are fetched at once; 0 means 4.
	Jobs int
	// Retries is how many times a transient fault on one source is retried
	// before moving to the next source; 0 means none. See policy.go for
	// when the count starts over.
	Retries int
	// IdleTimeout is how long a connection may send nothing before it counts
	// as stalled; 0 means 30s. There is no deadline on a whole download.
	IdleTimeout time.Duration
	// MinSpeed and SpeedWindow: a connection that delivers fewer than
	// MinSpeed bytes per second over a whole SpeedWindow is given up, and
	// its source with it (curl's --speed-limit/--speed-time). 0 means
	// 1024 bytes/s and 60s; a negative MinSpeed turns the check off.
	MinSpeed    int64
	SpeedWindow time.Duration
	// MaxFaults caps the faults retried on one source, whatever its
	// progress; 0 means 10 × (Retries + 1).
	MaxFaults int64
	// BackoffBase and BackoffMax shape the exponential backoff between
	// retries; 0 means 500ms and 30s.
	BackoffBase, BackoffMax time.Duration
	// MaxRetryAfter caps how long a server's Retry-After may make us wait;
	// 0 means 2m.
	MaxRetryAfter time.Duration
	// Cache, when not nil, is consulted before downloading and filled by it.
	// It is best-effort: a cache that fails never fails an install.
	Cache *cache.Cache
	// Mirrors are content-addressed stores tried in order before each
	// model's own sources, by the SHA-256 of its installed file. A mirror
	// that lacks the file (404) is passed over without a word; one that
	// fails is a source failure like any other. Requests to a registry
	// mirror need Client's transport to be wrapped with mirror.Transport
	// when the registry asks for credentials.
	Mirrors []mirror.Mirror
	// MirrorOnly never tries a model's own sources: mirrors (and the
	// cache) only, as in an air-gapped build.
	MirrorOnly bool
	// Offline forbids the network: artifacts come from the cache or from
	// file: sources, or fail.
	Offline bool
	// Client is the HTTP client; nil means NewClient with no proxy and no
	// credentials.
	Client *http.Client
	// Observer receives progress and events; nil means none.
	Observer Observer
	// Now is the clock (for Retry-After dates); nil means time.Now.
	Now func() time.Time
	// Connections is the most connections one large file is fetched over
	// when its server allows ranges; 0 means 1. The files of one host share
	// its HostConnections: a free connection goes to the file with the
	// fewest in flight (share.go), so with Connections at HostConnections
	// the last file left takes them all.
	Connections int
	// ChunkSize is the size of each ranged request; 0 means 4 MiB.
	ChunkSize int64
	// HostConnections is the connection budget of one host across all
	// artifacts at once, to start with; 0 means 16. While requests wait for
	// a slot and more connections make the host faster, the budget grows by
	// a quarter per round of requests, up to HostMaxConnections; 0 means 24,
	// the chunks that the default BufferBytes holds (a request in flight
	// holds a chunk's share of it), and less than HostConnections means
	// HostConnections: no growth. A
	// host that answers 429 or 503 gets fewer, down to one, and more again
	// as requests succeed, never again as many as when it refused (host.go).
	HostConnections    int
	HostMaxConnections int
	// BufferBytes bounds the memory that ranged downloads of all artifacts
	// together use for chunks fetched but not yet decoded; 0 means 96 MiB.
	// A chunk holds its share from when it is asked for until it has been
	// read, so this is the peak.
	BufferBytes int64
	// DecodePool bounds parallel bzip2 decoding across all artifacts at once
	// (see decompress.NewPool); nil means one block per CPU.
	DecodePool chan struct{}
	// Hub says where hf:// sources are read from, and with what token.
	Hub HubOptions
}

// Observer is told what happens; calls may come from several goroutines at
// once. Implementations must be quick and must not block.
type Observer interface {
	// Start: work on an artifact begins; total is its installed size or -1.
	Start(name string, total int64)
	// Progress: n installed bytes of the artifact are written so far.
	Progress(name string, n int64)
	// Retry: a transient fault on a source is retried after wait.
	Retry(name string, err *SourceError, wait time.Duration)
	// SourceFailed: source is given up; the next one (if any) is tried.
	SourceFailed(name string, err *SourceError)
	// Done: the artifact is finished, well or not.
	Done(r Result)
}

// ServedObserver is an Observer that is also told how many bytes the source
// being read has served so far (over every pass), before decoding: a display
// can tell a connection still opening from a decoder still filling.
type ServedObserver interface {
	Served(name string, n int64)
}

// ReceivedObserver is an Observer that is also told how many bytes have
// come off the network for an artifact so far, over all of its connections
// and in whatever order: a ranged download receives while its first chunk,
// the next one the decoder needs, is still on its way, and a display can say
// so rather than "connecting".
type ReceivedObserver interface {
	Received(name string, n int64)
}

// receiver is a source that can count the bytes its connections receive.
type receiver interface {
	receive(func(n int))
}

type nopObserver struct{}

func (nopObserver) Start(string, int64)                       {}
func (nopObserver) Progress(string, int64)                    {}
func (nopObserver) Retry(string, *SourceError, time.Duration) {}
func (nopObserver) SourceFailed(string, *SourceError)         {}
func (nopObserver) Done(Result)                               {}

// Fetcher runs the pipeline. It is safe for one call at a time, except
// Probe, which may run in several goroutines at once (lock reads several
// models at once), sharing the host budgets as the artifacts of one call do.
type Fetcher struct {
	o      Options
	policy policy
	client *http.Client
	obs    Observer
	pool   chan struct{}
	chunks chan struct{} // chunk buffers, across all artifacts
	// Chunk buffers to reuse, across all artifacts: as many as the budget
	// has tokens, so the buffers ever made are at most those in use at
	// once (one per token).
	free chan []byte

	mu    sync.Mutex
	hosts map[string]*hostLimiter
	dead  deadHosts    // hosts this run gave up on (dead.go)
	hubc  *http.Client // the client for the Hub's endpoint (hubsource.go)

	swept sync.Once // the cache's temp files of killed runs (probe.go)
}

// New returns a Fetcher with opts, filling in the defaults.
func New(opts Options) *Fetcher {
	opts.Jobs = orDefault(opts.Jobs, 4)
	opts.IdleTimeout = orDefault(opts.IdleTimeout, 30*time.Second)
	opts.BackoffBase = orDefault(opts.BackoffBase, retry.DefaultBase)
	opts.BackoffMax = orDefault(opts.BackoffMax, retry.DefaultCap)
	opts.MaxRetryAfter = orDefault(opts.MaxRetryAfter, retry.DefaultMaxRetryAfter)
	opts.Connections = orDefault(opts.Connections, 1)
	opts.ChunkSize = orDefault(opts.ChunkSize, 4<<20)
	opts.HostConnections = orDefault(opts.HostConnections, 16)
	opts.HostMaxConnections = orDefault(opts.HostMaxConnections, 24)
	opts.BufferBytes = orDefault(opts.BufferBytes, 96<<20)
	opts.MaxFaults = orDefault(opts.MaxFaults, 10*int64(max(opts.Retries, 0)+1))
	opts.SpeedWindow = orDefault(opts.SpeedWindow, time.Minute)
	switch {
	case opts.MinSpeed == 0:
		opts.MinSpeed = 1024
	case opts.MinSpeed < 0:
		opts.MinSpeed = 0
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Fetcher{o: opts, client: opts.Client, obs: opts.Observer, pool: opts.DecodePool,
		policy: policy{Retries: max(opts.Retries, 0), Base: opts.BackoffBase, Cap: opts.BackoffMax,
			MaxRetryAfter: opts.MaxRetryAfter, MaxFaults: opts.MaxFaults, sleep: sleepCtx}}
	if f.pool == nil {
		f.pool = decompress.NewPool(0)
	}
	f.chunks = make(chan struct{}, max(2, opts.BufferBytes/opts.ChunkSize))
	f.free = make(chan []byte, cap(f.chunks))
	if f.client == nil {
		f.client = NewClient(nil, nil, opts.IdleTimeout)
	}
	if f.obs == nil {
		f.obs = nopObserver{}
	}
	return f
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// host returns the connection budget shared by every artifact on host.
func (f *Fetcher) host(host string) *hostLimiter {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hosts == nil {
		f.hosts = map[string]*hostLimiter{}
	}
	h, ok := f.hosts[host]
	if !ok {
		h = newHostLimiter(f.o.HostConnections, f.o.HostMaxConnections, f.o.Now)
		f.hosts[host] = h
	}
	return h
}
