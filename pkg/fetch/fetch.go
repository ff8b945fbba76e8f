// Package fetch downloads, verifies and installs the artifacts of a manifest.
//
// Each artifact flows through one streaming pipeline, every byte read once:
//
//	source (http/file, retried and resumed with Range)
//	  → as-served size/digest check (when declared)
//	  → decompress (declared or detected from magic bytes)
//	  → installed size cap and SHA-256 check (inside Read, at EOF)
//	  → temp file beside the destination (and a cache temp file)
//	  → fsync → chmod/chown → rename
//
// Verification errors surface from Read, so a failed copy commits nothing: a
// file that fails verification never appears at its destination, and a
// previous good file is never replaced by a bad one. The package never prints;
// progress and events go to an Observer.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/djok/modelfetch/internal/fsutil"
	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Options configure a Fetcher. The zero value is usable: every field states
// what its zero means.
type Options struct {
	// Jobs is how many artifacts are fetched at once; 0 means 4.
	Jobs int
	// Retries is how many times a transient fault on one source is retried
	// before moving to the next source; 0 means none.
	Retries int
	// IdleTimeout is how long a connection may send nothing before it counts
	// as stalled; 0 means 30s. There is no deadline on a whole download.
	IdleTimeout time.Duration
	// BackoffBase and BackoffMax shape the exponential backoff between
	// retries; 0 means 500ms and 30s.
	BackoffBase, BackoffMax time.Duration
	// MaxRetryAfter caps how long a server's Retry-After may make us wait;
	// 0 means 2m.
	MaxRetryAfter time.Duration
	// Cache, when not nil, is consulted before downloading and filled by it.
	Cache *cache.Cache
	// Offline forbids the network: artifacts come from the cache or fail.
	Offline bool
	// Client is the HTTP client; nil means NewClient with no proxy and no
	// credentials.
	Client *http.Client
	// Observer receives progress and events; nil means none.
	Observer Observer
	// Now is the clock (for Retry-After dates); nil means time.Now.
	Now func() time.Time
	// Connections is how many connections one large file is fetched over
	// when its server allows ranges; 0 means 1.
	Connections int
	// ChunkSize is the size of each ranged request; 0 means 4 MiB.
	ChunkSize int64
	// HostConnections caps ranged connections to one host across all
	// artifacts at once; 0 means 16.
	HostConnections int
	// BufferBytes bounds the memory that ranged downloads of all artifacts
	// together use for chunks fetched but not yet decoded; 0 means 96 MiB.
	// Peak buffering is this plus one chunk per artifact being read.
	BufferBytes int64
	// DecodePool bounds parallel bzip2 decoding across all artifacts at once
	// (see decompress.NewPool); nil means one block per CPU.
	DecodePool chan struct{}
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

type nopObserver struct{}

func (nopObserver) Start(string, int64)                       {}
func (nopObserver) Progress(string, int64)                    {}
func (nopObserver) Retry(string, *SourceError, time.Duration) {}
func (nopObserver) SourceFailed(string, *SourceError)         {}
func (nopObserver) Done(Result)                               {}

// Target is an artifact and where it goes.
type Target struct {
	Model *manifest.Model
	// Root is the absolute install root; Model.Path is relative to it.
	Root string
	// FileMode and DirMode apply to the installed file and to directories
	// created for it.
	FileMode, DirMode os.FileMode
	// Owner, when not nil, is given to the file and created directories.
	Owner *manifest.Owner
}

// Dest returns the absolute destination path.
func (t Target) Dest() string { return filepath.Join(t.Root, filepath.FromSlash(t.Model.Path)) }

// Targets resolves where each model goes. owner overrides the manifest's
// owner; chown false means ownership is not changed at all (not root).
func Targets(m *manifest.Manifest, models []*manifest.Model, owner *manifest.Owner, chown bool) ([]Target, error) {
	if owner == nil {
		owner = m.Defaults.Owner
	}
	if !chown {
		owner = nil
	}
	var out []Target
	var errs manifest.ErrorList
	for _, mod := range models {
		root, err := m.Root(mod)
		if err != nil {
			var me *manifest.Error
			if errors.As(err, &me) {
				errs = append(errs, me)
				continue
			}
			return nil, err
		}
		if err := checkConfined(root, mod.Path); err != nil {
			errs = append(errs, &manifest.Error{File: m.File, Line: mod.Line, Key: "models." + mod.Name + ".path", Msg: err.Error()})
			continue
		}
		out = append(out, Target{Model: mod, Root: root, FileMode: m.Defaults.FileMode, DirMode: m.Defaults.DirMode, Owner: owner})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// Status is what happened to an artifact.
type Status string

// Statuses.
const (
	StatusUpToDate  Status = "up-to-date" // installed file already matched
	StatusInstalled Status = "installed"  // downloaded and installed
	StatusFromCache Status = "cached"     // installed from the cache
	StatusWarmed    Status = "warmed"     // downloaded into the cache only
	StatusPresent   Status = "present"    // already in the cache (warm)
	StatusOK        Status = "ok"         // verify: matches
	StatusFailed    Status = "failed"
	StatusWouldGet  Status = "would-download"   // dry run
	StatusWouldCopy Status = "would-copy-cache" // dry run
)

// Result is the outcome for one artifact.
type Result struct {
	Name   string
	Dest   string // absolute destination ("" for cache-only work)
	Status Status
	Size   int64         // installed bytes
	Digest digest.Digest // installed digest
	// Source is the redacted URL the bytes came from, "cache", or "".
	Source string
	// Served is the number of bytes received from the network.
	Served   int64
	Retries  int
	Duration time.Duration
	Err      error // *Error when Status is StatusFailed
}

// Kind says what sort of failure an artifact ended with.
type Kind int

// Kinds of failure.
const (
	KindNetwork   Kind = iota + 1 // no source could be read
	KindIntegrity                 // a source delivered complete bytes that failed verification
	KindLocal                     // this machine failed (disk, permissions)
	KindCanceled                  // interrupted
)

// SourceError is why one source failed.
type SourceError struct {
	Source string // redacted URL
	Kind   Kind
	Err    error
}

func (e *SourceError) Error() string { return e.Source + ": " + e.Reason() }

// Reason is the failure in one line, without the URL.
func (e *SourceError) Reason() string { return describe(e.Err) }
func (e *SourceError) Unwrap() error  { return e.Err }

// Error is an artifact that could not be installed. Kind follows DESIGN.md:
// integrity when no source delivered good bytes and at least one delivered
// complete bad ones, otherwise network (or local/canceled).
type Error struct {
	Artifact string
	Kind     Kind
	Sources  []*SourceError // each source tried, in order
	Err      error          // a failure not tied to one source
}

// Lines returns one message line per failure, each naming the artifact.
func (e *Error) Lines() []string {
	var out []string
	for _, s := range e.Sources {
		out = append(out, e.Artifact+": "+s.Error())
	}
	if e.Err != nil {
		out = append(out, e.Artifact+": "+describe(e.Err))
	}
	return out
}

func (e *Error) Error() string {
	l := e.Lines()
	if len(l) == 0 {
		return e.Artifact + ": failed"
	}
	return l[len(l)-1]
}

func (e *Error) Unwrap() []error {
	var errs []error
	for _, s := range e.Sources {
		errs = append(errs, s)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Fetcher runs the pipeline. It is safe for one call at a time.
type Fetcher struct {
	o      Options
	client *http.Client
	obs    Observer
	pool   chan struct{}

	mu     sync.Mutex
	hosts  map[string]chan struct{} // connection slots per host
	chunks chan struct{}            // chunk buffers, across all artifacts
}

// hostSlots returns the connection budget shared by every artifact on host.
func (f *Fetcher) hostSlots(host string) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hosts == nil {
		f.hosts = map[string]chan struct{}{}
	}
	c, ok := f.hosts[host]
	if !ok {
		c = make(chan struct{}, f.o.HostConnections)
		f.hosts[host] = c
	}
	return c
}

// New returns a Fetcher with opts, filling in the defaults.
func New(opts Options) *Fetcher {
	if opts.Jobs <= 0 {
		opts.Jobs = 4
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Second
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 500 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 30 * time.Second
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = 2 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Connections <= 0 {
		opts.Connections = 1
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 4 << 20
	}
	if opts.HostConnections <= 0 {
		opts.HostConnections = 16
	}
	if opts.BufferBytes <= 0 {
		opts.BufferBytes = 96 << 20
	}
	f := &Fetcher{o: opts, client: opts.Client, obs: opts.Observer, pool: opts.DecodePool}
	if f.pool == nil {
		f.pool = decompress.NewPool(0)
	}
	f.chunks = make(chan struct{}, max(2, opts.BufferBytes/opts.ChunkSize))
	if f.client == nil {
		f.client = NewClient(nil, nil, opts.IdleTimeout)
	}
	if f.obs == nil {
		f.obs = nopObserver{}
	}
	return f
}

// each runs fn for every index with at most Jobs at once and collects results.
// An index that never started (ctx was cancelled first) gets base(i) marked
// as cancelled.
func (f *Fetcher) each(ctx context.Context, n int, base func(i int) Result, fn func(i int) Result) []Result {
	out := make([]Result, n)
	sem := make(chan struct{}, f.o.Jobs)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				return
			}
			if ctx.Err() == nil {
				out[i] = fn(i)
			}
		}()
	}
	wg.Wait()
	for i := range out {
		if out[i].Status == "" {
			r := base(i)
			out[i] = failed(ctx, &r, KindCanceled, context.Cause(ctx))
		}
	}
	return out
}

// targetResult returns the Result fields known before any work on targets[i].
func targetResult(targets []Target) func(i int) Result {
	return func(i int) Result {
		t := targets[i]
		return Result{Name: t.Model.Name, Dest: t.Dest(), Size: t.Model.Size, Digest: t.Model.SHA256}
	}
}

// Install makes every target's destination hold its verified bytes: left
// alone when it already matches, copied from the cache when there, otherwise
// downloaded. Results are in the order of targets.
func (f *Fetcher) Install(ctx context.Context, targets []Target) []Result {
	return f.each(ctx, len(targets), targetResult(targets), func(i int) Result { return f.install(ctx, targets[i]) })
}

func (f *Fetcher) install(ctx context.Context, t Target) (r Result) {
	m := t.Model
	start := time.Now()
	r = targetResult([]Target{t})(0)
	f.obs.Start(m.Name, m.Size)
	defer func() {
		r.Duration = time.Since(start)
		f.obs.Done(r)
	}()
	fail := func(kind Kind, err error) Result { return failed(ctx, &r, kind, err) }

	root, err := ensureRoot(t.Root, t.DirMode, t.Owner)
	if err != nil {
		return fail(KindLocal, err)
	}
	defer root.Close()
	_, _ = fsutil.RemoveStaleTemps(root, path.Dir(m.Path))

	ok, err := matches(ctx, root, m.Path, m.SHA256, m.Size)
	if err != nil {
		return fail(KindLocal, err)
	}
	if ok {
		r.Status = StatusUpToDate
		r.Size = sizeOf(root, m.Path, m.Size)
		return r
	}
	if err := ensureParents(root, m.Path, t.DirMode, t.Owner); err != nil {
		return fail(KindLocal, err)
	}
	tmp, err := createTemp(root, m.Path)
	if err != nil {
		return fail(KindLocal, err)
	}
	defer tmp.abort()

	commit := func() Result {
		if err := tmp.commit(t.FileMode, t.Owner); err != nil {
			return fail(KindLocal, err)
		}
		return r
	}
	if f.o.Cache != nil {
		done, err := f.fromCache(ctx, m, tmp, &r)
		if err != nil {
			return fail(KindLocal, err)
		}
		if done {
			return commit()
		}
		if !f.o.Offline {
			unlock, err := f.o.Cache.Lock(ctx, m.SHA256)
			if err != nil {
				return fail(KindCanceled, err)
			}
			defer unlock()
			// Another process may have fetched it while we waited.
			if done, err := f.fromCache(ctx, m, tmp, &r); err != nil {
				return fail(KindLocal, err)
			} else if done {
				return commit()
			}
		}
	}
	if f.o.Offline {
		return fail(KindNetwork, fmt.Errorf("not in the cache (sha256 %s) and offline", m.SHA256.Short()))
	}
	var cw *cache.Writer
	if f.o.Cache != nil {
		if cw, err = f.o.Cache.Create(); err != nil {
			return fail(KindLocal, err)
		}
		defer cw.Abort()
	}
	if err := f.download(ctx, m, tmp, cw, &r); err != nil {
		return fail(KindNetwork, err)
	}
	r.Status = StatusInstalled
	if cw != nil {
		if err := cw.Commit(m.SHA256); err != nil {
			return fail(KindLocal, err)
		}
	}
	return commit()
}

// failed marks r as failed with err; when ctx was cancelled, that is the
// cause, whatever err says.
func failed(ctx context.Context, r *Result, kind Kind, err error) Result {
	r.Status = StatusFailed
	if ctx.Err() != nil {
		kind, err = KindCanceled, context.Cause(ctx)
	}
	var fe *Error
	if !errors.As(err, &fe) {
		fe = &Error{Artifact: r.Name, Kind: kind, Err: err}
	}
	r.Err = fe
	return *r
}

func sizeOf(root *os.Root, rel string, def int64) int64 {
	if fi, err := root.Stat(rel); err == nil {
		return fi.Size()
	}
	return def
}

// fromCache copies the cached blob into tmp, verifying it in the same pass.
// A blob that fails verification is removed (and false returned), so the
// caller downloads a good one.
func (f *Fetcher) fromCache(ctx context.Context, m *manifest.Model, tmp *tempFile, r *Result) (bool, error) {
	blob, err := f.o.Cache.Open(m.SHA256)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer blob.Close()
	if err := tmp.reset(); err != nil {
		return false, &localError{err}
	}
	corrupt := func() (bool, error) {
		_ = f.o.Cache.Remove(m.SHA256)
		return false, tmp.reset()
	}
	if fi, err := blob.Stat(); err != nil {
		return false, err
	} else if m.Size >= 0 && fi.Size() != m.Size {
		return corrupt()
	}
	// The kernel copies (io.Copy between two files is copy_file_range), then
	// the copy is hashed: one hash pass, and it proves the bytes that will be
	// installed, not just the ones in the cache.
	if _, err := io.Copy(tmp.f, blob); err != nil {
		return false, &localError{err}
	}
	if _, err := tmp.f.Seek(0, io.SeekStart); err != nil {
		return false, &localError{err}
	}
	vr := digest.NewReader(tmp.f, m.SHA256, m.Size)
	n, err := copyCtx(ctx, &progressWriter{w: io.Discard, name: m.Name, obs: f.obs}, vr)
	switch {
	case err == nil:
		r.Status = StatusFromCache
		r.Source = "cache"
		r.Size = n
		return true, nil
	case digest.IsIntegrity(err):
		return corrupt()
	case ctx.Err() != nil:
		return false, ctx.Err()
	default:
		return false, &localError{err}
	}
}

// Warm downloads into the cache the models it does not hold yet.
func (f *Fetcher) Warm(ctx context.Context, models []*manifest.Model) []Result {
	base := func(i int) Result {
		return Result{Name: models[i].Name, Size: models[i].Size, Digest: models[i].SHA256}
	}
	return f.each(ctx, len(models), base, func(i int) Result { return f.warm(ctx, models[i]) })
}

func (f *Fetcher) warm(ctx context.Context, m *manifest.Model) (r Result) {
	start := time.Now()
	r = Result{Name: m.Name, Size: m.Size, Digest: m.SHA256}
	f.obs.Start(m.Name, m.Size)
	defer func() {
		r.Duration = time.Since(start)
		f.obs.Done(r)
	}()
	fail := func(kind Kind, err error) Result { return failed(ctx, &r, kind, err) }
	c := f.o.Cache
	if c == nil {
		return fail(KindLocal, errors.New("no cache to warm"))
	}
	present := func() bool {
		if !c.Has(m.SHA256) {
			return false
		}
		if err := c.Verify(ctx, m.SHA256); err != nil {
			_ = c.Remove(m.SHA256)
			return false
		}
		return true
	}
	if present() {
		r.Status, r.Source = StatusPresent, "cache"
		return r
	}
	if f.o.Offline {
		return fail(KindNetwork, fmt.Errorf("not in the cache (sha256 %s) and offline", m.SHA256.Short()))
	}
	unlock, err := c.Lock(ctx, m.SHA256)
	if err != nil {
		return fail(KindCanceled, err)
	}
	defer unlock()
	if present() {
		r.Status, r.Source = StatusPresent, "cache"
		return r
	}
	cw, err := c.Create()
	if err != nil {
		return fail(KindLocal, err)
	}
	defer cw.Abort()
	if err := f.download(ctx, m, nil, cw, &r); err != nil {
		return fail(KindNetwork, err)
	}
	if err := cw.Commit(m.SHA256); err != nil {
		return fail(KindLocal, err)
	}
	r.Status = StatusWarmed
	return r
}

// Verify re-hashes each target's installed file, offline.
func (f *Fetcher) Verify(ctx context.Context, targets []Target) []Result {
	return f.each(ctx, len(targets), targetResult(targets), func(i int) Result {
		r := targetResult(targets)(i)
		start := time.Now()
		err := verifyFile(ctx, targets[i])
		r.Duration = time.Since(start)
		if err != nil {
			return failed(ctx, &r, KindIntegrity, err)
		}
		r.Status = StatusOK
		return r
	})
}

func verifyFile(ctx context.Context, t Target) error {
	root, err := os.OpenRoot(t.Root)
	if err != nil {
		return fmt.Errorf("%s: %w", t.Dest(), errMissing)
	}
	defer root.Close()
	if err := checkInstalled(ctx, root, t.Model.Path, t.Model.SHA256, t.Model.Size); err != nil {
		return fmt.Errorf("%s: %w", t.Dest(), err)
	}
	return nil
}

// DryRun says what Install would do, without writing or downloading.
func (f *Fetcher) DryRun(ctx context.Context, targets []Target) []Result {
	return f.each(ctx, len(targets), targetResult(targets), func(i int) Result {
		t := targets[i]
		m := t.Model
		r := targetResult(targets)(i)
		r.Status = StatusWouldGet
		if len(m.Sources) > 0 {
			r.Source = redact.URL(m.Sources[0].Parsed)
		}
		if verifyFile(ctx, t) == nil {
			r.Status, r.Source = StatusUpToDate, ""
		} else if f.o.Cache != nil && f.o.Cache.Has(m.SHA256) {
			r.Status, r.Source = StatusWouldCopy, "cache"
		}
		return r
	})
}

// Probe is what a source serves, measured without expectations.
type Probe struct {
	Source string // redacted URL
	// Format is the compression the bytes were decoded from.
	Format decompress.Format
	// Installed and InstalledSize describe the decoded bytes; Served and
	// ServedSize the bytes as served.
	Installed     digest.Digest
	InstalledSize int64
	Served        digest.Digest
	ServedSize    int64
}

// Probe downloads src through the pipeline (retries, resume, decompression)
// without checking digests or sizes, and reports what it delivered: this is
// how `lock` learns the values to record. It decodes at most limit installed
// bytes: more is a KindIntegrity error wrapping a *digest.SizeError with
// Over set. With a cache, the decoded bytes are stored under their digest, so
// a later fetch needs no network. The error is a *SourceError.
func (f *Fetcher) Probe(ctx context.Context, m *manifest.Model, src *manifest.Source, limit int64) (Probe, error) {
	name := redact.URL(src.Parsed)
	mm, ss := *m, *src
	mm.SHA256, mm.Size = digest.Digest{}, -1
	ss.SHA256, ss.Size = digest.Digest{}, -1
	sinks := []sink{&limitSink{limit: limit}}
	var cw *cache.Writer
	fail := func(err error) (Probe, error) {
		kind := KindNetwork
		var se *digest.SizeError
		switch {
		case ctx.Err() != nil:
			kind, err = KindCanceled, context.Cause(ctx)
		case errors.As(err, &se):
			kind = KindIntegrity
		case isLocal(err):
			kind = KindLocal
		case decompress.IsCorrupt(err) || isTrailing(err):
			kind = KindIntegrity
		}
		return Probe{Source: name}, &SourceError{Source: name, Kind: kind, Err: err}
	}
	if f.o.Cache != nil {
		var err error
		if cw, err = f.o.Cache.Create(); err != nil {
			return fail(&localError{err})
		}
		defer cw.Abort()
		sinks = append(sinks, cacheSink{cw})
	}
	res, err := f.fetchSource(ctx, &mm, &ss, sinks, true)
	if err != nil {
		return fail(err)
	}
	p := res.pass
	if cw != nil {
		if err := cw.Commit(p.installed); err != nil {
			return fail(&localError{err})
		}
	}
	return Probe{Source: name, Format: p.format, Installed: p.installed, InstalledSize: p.installedSize,
		Served: p.served, ServedSize: p.servedSize}, nil
}

// sink is where verified bytes go; reset starts it over.
type sink interface {
	io.Writer
	reset() error
}

type cacheSink struct{ *cache.Writer }

// limitSink fails once more than limit bytes are written to it.
type limitSink struct{ n, limit int64 }

func (l *limitSink) Write(p []byte) (int, error) {
	if l.n += int64(len(p)); l.n > l.limit {
		return 0, &digest.SizeError{Got: l.limit + 1, Want: l.limit, Over: true}
	}
	return len(p), nil
}

func (l *limitSink) reset() error { l.n = 0; return nil }

func (c cacheSink) reset() error { return c.Reset() }

// download tries each source in order until one delivers verified bytes into
// tmp and cw (either may be nil).
func (f *Fetcher) download(ctx context.Context, m *manifest.Model, tmp *tempFile, cw *cache.Writer, r *Result) error {
	var sinks []sink
	if tmp != nil {
		sinks = append(sinks, tmp)
	}
	if cw != nil {
		sinks = append(sinks, cacheSink{cw})
	}
	ferr := &Error{Artifact: m.Name, Kind: KindNetwork}
	for _, src := range m.Sources {
		name := redact.URL(src.Parsed)
		res, err := f.fetchSource(ctx, m, src, sinks, false)
		r.Served += res.served
		r.Retries += res.retries
		if err == nil {
			r.Source = name
			r.Size = res.pass.installedSize
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		kind := KindNetwork
		switch {
		case isLocal(err):
			ferr.Kind = KindLocal
			ferr.Err = err
			return ferr
		case digest.IsIntegrity(err) || decompress.IsCorrupt(err) || isTrailing(err):
			kind = KindIntegrity
			ferr.Kind = KindIntegrity
		}
		se := &SourceError{Source: name, Kind: kind, Err: err}
		ferr.Sources = append(ferr.Sources, se)
		f.obs.SourceFailed(m.Name, se)
	}
	return ferr
}

type sourceResult struct {
	served  int64 // bytes received, over every pass
	retries int
	pass    pass // the last pass
}

// pass is what one run of the pipeline saw.
type pass struct {
	format                    decompress.Format
	installed, served         digest.Digest
	installedSize, servedSize int64
}

// fetchSource runs the pipeline for one source, restarting it from byte 0
// when the stream asks to (a server that cannot resume) or when a compressed
// stream was cut short where its length was unknown.
func (f *Fetcher) fetchSource(ctx context.Context, m *manifest.Model, src *manifest.Source, sinks []sink, hashServed bool) (res sourceResult, err error) {
	var chunkRetries atomic.Int64
	newRetrier := func() *retrier {
		return &retrier{
			max: f.o.Retries, base: f.o.BackoffBase, cap: f.o.BackoffMax, maxAfter: f.o.MaxRetryAfter,
			sleep: sleepCtx,
			onRetry: func(err error, wait time.Duration) {
				chunkRetries.Add(1)
				f.obs.Retry(m.Name, &SourceError{Source: redact.URL(src.Parsed), Kind: KindNetwork, Err: err}, wait)
			},
		}
	}
	rt := newRetrier()
	defer func() { res.retries = int(chunkRetries.Load()) }()
	var st stream
	switch src.Parsed.Scheme {
	case "file":
		fs, err := openFile(ctx, filepath.FromSlash(src.Parsed.Path))
		if err != nil {
			return res, err
		}
		st = fs
	default:
		if f.o.Offline {
			return res, &permanentError{errors.New("offline")}
		}
		st = &httpStream{ctx: ctx, client: f.client, url: src.Parsed, idle: f.o.IdleTimeout, rt: rt,
			now: f.o.Now, length: -1, declared: -1,
			conns: f.o.Connections, chunk: f.o.ChunkSize, hostSlots: f.hostSlots(src.Parsed.Host), newRetrier: newRetrier,
			buffers: f.chunks}
	}
	defer st.Close()
	if src.Size >= 0 {
		st.expectLen(src.Size)
	} else if src.Compression == decompress.None {
		st.expectLen(m.Size)
	}
	counted := &countingReader{r: st}
	for {
		for _, s := range sinks {
			if err := s.reset(); err != nil {
				return res, &localError{err}
			}
		}
		res.pass, err = f.pipe(ctx, m, src, st, counted, sinks, hashServed)
		res.served = counted.n
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if errors.Is(err, errRestart) || decompress.IsTruncated(err) {
			if werr := rt.wait(ctx, err); werr != nil {
				return res, werr
			}
			st.rewind()
			continue
		}
		return res, err
	}
}

// pipe is one pass of the pipeline over st.
func (f *Fetcher) pipe(ctx context.Context, m *manifest.Model, src *manifest.Source, st stream, in io.Reader, sinks []sink, hashServed bool) (p pass, err error) {
	// The bytes as served are hashed only when a digest of them is declared
	// or asked for (lock): otherwise it would be a second SHA-256 pass.
	served := digest.NewSizeReader(in, src.Size)
	if hashServed || !src.SHA256.IsZero() {
		served = digest.NewReader(in, src.SHA256, src.Size)
	}
	dec, err := decompress.Open(ctx, src.Compression, served, decompress.Options{Pool: f.pool})
	if err != nil {
		return p, err
	}
	defer dec.Close()
	if dec.Format() == decompress.None {
		// Served bytes are installed bytes: the declared size tells truncation.
		st.expectLen(m.Size)
	}
	installed := digest.NewReader(dec, m.SHA256, m.Size)
	ws := make([]io.Writer, len(sinks))
	for i, s := range sinks {
		ws[i] = s
	}
	out := &progressWriter{w: &localWriter{io.MultiWriter(ws...)}, name: m.Name, obs: f.obs}
	if _, err := copyCtx(ctx, out, installed); err != nil {
		return p, err
	}
	// The decoder stopped at its end marker: whatever follows must be nothing,
	// and reading it to EOF checks the as-served digest.
	n, err := io.Copy(io.Discard, served)
	if err != nil {
		return p, err
	}
	if n > 0 {
		return p, &trailingError{n}
	}
	return pass{format: dec.Format(), installed: installed.Digest(), installedSize: installed.Size(),
		served: served.Digest(), servedSize: served.Size()}, nil
}

type trailingError struct{ n int64 }

func (e *trailingError) Error() string {
	return fmt.Sprintf("%d bytes of trailing data after the compressed stream", e.n)
}

func isTrailing(err error) bool {
	var t *trailingError
	return errors.As(err, &t)
}

// copyCtx is io.Copy with a large buffer that stops when ctx is done.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, rerr := r.Read(buf)
		if m > 0 {
			wm, werr := w.Write(buf[:m])
			n += int64(wm)
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// localWriter marks write failures as this machine's (disk full and such).
type localWriter struct{ w io.Writer }

func (l *localWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if err != nil {
		err = &localError{err}
	}
	return n, err
}

type progressWriter struct {
	w    io.Writer
	name string
	obs  Observer
	n    int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	p.obs.Progress(p.name, p.n)
	return n, err
}
