package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/djok/modelfetch/internal/fsutil"
	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

// The install protocol, per artifact:
//
//	installed file matches → leave it (fix mode and owner only)
//	temp file beside the destination (locked, so no sweep removes it)
//	  ← cached blob, copied and verified; else, under the cache lock for
//	    its digest, ← download (pipeline.go) into the temp file and a cache
//	    temp file at once
//	fsync → chmod/chown → rename over the destination → fsync the folder
//
// Nothing reaches the destination but by that rename, after verification.
// The cache is best-effort: when it fails, the install goes on without it.

// Install makes every target's destination hold its verified bytes: left
// alone when it already matches, copied from the cache when there, otherwise
// downloaded. They start in startOrder; results are in the order of
// targets. Temp files that killed runs left in the roots are removed first;
// folders the run created and left empty (a failed model's) are removed last.
func (f *Fetcher) Install(ctx context.Context, targets []Target) []Result {
	swept := map[string]bool{}
	for _, t := range targets {
		if swept[t.Root] {
			continue
		}
		swept[t.Root] = true
		// Whatever models this run selects (docs/DESIGN.md: install roots).
		if root, err := os.OpenRoot(t.Root); err == nil {
			_, _ = fsutil.RemoveStaleTempsTree(root, ".")
			root.Close()
		}
	}
	if f.o.Cache != nil {
		_, _ = f.o.Cache.RemoveStaleTemps()
	}
	made := &created{}
	defer made.removeEmpty()
	order := startOrder(targets)
	base := targetResult(targets)
	started := each(ctx, f.o.Jobs, len(targets), func(k int) Result { return base(order[k]) },
		func(k int) Result { return f.install(ctx, targets[order[k]], made) })
	out := make([]Result, len(targets))
	for k, i := range order {
		out[i] = started[k]
	}
	return out
}

func (f *Fetcher) install(ctx context.Context, t Target, made *created) (r Result) {
	m := t.Model
	start := time.Now()
	r = targetResult([]Target{t})(0)
	f.obs.Start(m.Name, m.Size)
	defer func() {
		r.Duration = time.Since(start)
		f.obs.Done(r)
	}()
	fail := func(kind Kind, err error) Result { return failed(ctx, &r, kind, err) }

	root, err := ensureRoot(t.Root, t.DirMode, t.Owner, made)
	if err != nil {
		return fail(KindLocal, err)
	}
	defer root.Close()

	ok, err := matches(ctx, root, m.Path, m.SHA256, m.Size)
	if err != nil {
		return fail(KindLocal, err)
	}
	if ok {
		r.Status = StatusUpToDate
		r.Size = sizeOf(root, m.Path, m.Size)
		if r.Fixed, err = fixAttrs(root, m.Path, t.FileMode, t.Owner); err != nil {
			return fail(KindLocal, err)
		}
		return r
	}
	if err := ensureParents(root, m.Path, t.DirMode, t.Owner, made); err != nil {
		return fail(KindLocal, err)
	}
	tmp, err := createTemp(root, m.Path)
	if err != nil {
		return fail(KindLocal, err)
	}
	defer tmp.abort()
	if err := f.fill(ctx, m, tmp, &r); err != nil {
		return fail(KindNetwork, err)
	}
	if err := tmp.commit(t.FileMode, t.Owner); err != nil {
		return fail(KindLocal, err)
	}
	return r
}

// fill puts the verified bytes of m into tmp: from the cache, else from its
// sources (filling the cache on the way). The error is an *Error or a
// cancellation.
func (f *Fetcher) fill(ctx context.Context, m *manifest.Model, tmp *tempFile, r *Result) error {
	c := f.o.Cache
	if c != nil {
		if done, err := f.fromCache(ctx, m, tmp, r); err != nil || done {
			return err
		}
	}
	if f.o.Offline && !f.hasLocalSource(m) {
		if c == nil {
			return fmt.Errorf("offline with no cache to read it from (sha256 %s)", m.SHA256.Short())
		}
		return fmt.Errorf("not in the cache (sha256 %s) and offline", m.SHA256.Short())
	}
	if c != nil && !f.o.Offline {
		unlock, err := c.Claim(ctx, m.SHA256)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			r.Warnings = append(r.Warnings, fmt.Errorf("cache: %w", err))
		default:
			defer unlock()
			// Another process may have fetched it while we waited.
			if done, err := f.fromCache(ctx, m, tmp, r); err != nil || done {
				return err
			}
		}
	}
	cs := f.cacheSink(r)
	defer cs.abort()
	if err := f.download(ctx, m, tmp, cs, r); err != nil {
		return err
	}
	r.Status = StatusInstalled
	cs.commit(m.SHA256, r)
	return nil
}

// hasLocalSource reports whether m can be fetched without the network:
// from a file: mirror or a file: source of its own.
func (f *Fetcher) hasLocalSource(m *manifest.Model) bool {
	for _, c := range f.candidates(m) {
		if c.src.Parsed.Scheme == "file" {
			return true
		}
	}
	return false
}

func sizeOf(root *os.Root, rel string, def int64) int64 {
	if fi, err := root.Stat(rel); err == nil {
		return fi.Size()
	}
	return def
}

// fromCache copies the cached blob into tmp, verifying the copy. A blob that
// cannot be read or fails verification is a miss (and removed when it is
// bad), so the caller downloads a good one. Only this machine's failures
// writing tmp, or a cancellation, are errors.
func (f *Fetcher) fromCache(ctx context.Context, m *manifest.Model, tmp *tempFile, r *Result) (bool, error) {
	blob, err := f.o.Cache.Open(m.SHA256)
	if errors.Is(err, cache.ErrDamaged) {
		r.Warnings = append(r.Warnings, fmt.Errorf("cache: the entry for sha256 %s is not a regular file; downloading again", m.SHA256.Short()))
	}
	if err != nil {
		return false, nil
	}
	defer blob.Close()
	if err := tmp.reset(); err != nil {
		return false, &localError{err}
	}
	miss := func(bad bool) (bool, error) {
		if bad {
			_ = f.o.Cache.Remove(m.SHA256)
		}
		return false, tmp.reset()
	}
	if fi, err := blob.Stat(); err != nil || !fi.Mode().IsRegular() {
		return miss(false)
	} else if m.Size >= 0 && fi.Size() != m.Size {
		return miss(true)
	}
	// The kernel copies (copy_file_range), bounded by the declared size;
	// then the copy is hashed: one hash pass, and it proves the bytes that
	// will be installed, not just the ones in the cache.
	var src io.Reader = blob
	if m.Size >= 0 {
		src = io.LimitReader(blob, m.Size+1)
	}
	if _, err := io.Copy(tmp.f, src); err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return miss(false)
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
	case ctx.Err() != nil:
		return false, ctx.Err()
	case digest.IsIntegrity(err):
		return miss(true)
	default:
		return false, &localError{err}
	}
}

// cacheSink fills a cache temp file alongside the install, best-effort: a
// failing cache (read-only, full, deleted) stops being written, never fails
// the install, and leaves a warning in the result.
type cacheSink struct {
	w   *cache.Writer
	err error
}

func (f *Fetcher) cacheSink(r *Result) *cacheSink {
	if f.o.Cache == nil {
		return nil
	}
	w, err := f.o.Cache.Create()
	if err != nil {
		r.Warnings = append(r.Warnings, fmt.Errorf("cache: %w", err))
		return nil
	}
	return &cacheSink{w: w}
}

func (c *cacheSink) Write(p []byte) (int, error) {
	if c.err == nil {
		_, c.err = c.w.Write(p)
	}
	return len(p), nil
}

func (c *cacheSink) reset() error {
	if c.err == nil {
		c.err = c.w.Reset()
	}
	return nil
}

// commit stores the blob under d, or records why it could not.
func (c *cacheSink) commit(d digest.Digest, r *Result) {
	if c == nil {
		return
	}
	if c.err == nil {
		c.err = c.w.Commit(d)
	}
	if c.err != nil {
		r.Warnings = append(r.Warnings, fmt.Errorf("cache not updated: %w", c.err))
	}
}

func (c *cacheSink) abort() {
	if c != nil {
		c.w.Abort()
	}
}

// fixAttrs gives an installed file that has the right bytes the mode and
// owner it should have. It reports whether anything changed.
func fixAttrs(root *os.Root, rel string, mode os.FileMode, owner *manifest.Owner) (bool, error) {
	fi, err := root.Lstat(rel)
	if err != nil {
		return false, err
	}
	fixed := false
	if fi.Mode().Perm() != mode.Perm() {
		if err := root.Chmod(rel, mode); err != nil {
			return false, err
		}
		fixed = true
	}
	if owner != nil {
		if uid, gid, ok := fileOwner(fi); ok && (uid != owner.UID || gid != owner.GID) {
			if err := root.Lchown(rel, owner.UID, owner.GID); err != nil {
				return false, err
			}
			fixed = true
		}
	}
	return fixed, nil
}

// tempFile is a file being written beside its destination; it becomes the
// destination only through commit.
type tempFile struct {
	root *os.Root
	name string // inside root
	dest string // inside root
	f    *os.File
	wb   fsutil.Flusher // starts the write-back of f as it grows
}

func createTemp(root *os.Root, dest string) (*tempFile, error) {
	f, name, err := fsutil.CreateTemp(root, path.Dir(dest), path.Base(dest))
	if err != nil {
		return nil, err
	}
	return &tempFile{root: root, name: name, dest: dest, f: f}, nil
}

func (t *tempFile) Write(p []byte) (int, error) {
	n, err := t.f.Write(p)
	t.wb.Wrote(t.f, n)
	return n, err
}

func (t *tempFile) reset() error {
	if err := t.f.Truncate(0); err != nil {
		return err
	}
	t.wb.Reset()
	_, err := t.f.Seek(0, io.SeekStart)
	return err
}

// commit syncs, sets mode and owner, and renames over the destination.
func (t *tempFile) commit(mode os.FileMode, owner *manifest.Owner) error {
	if err := t.f.Sync(); err != nil {
		return err
	}
	if err := t.f.Chmod(mode); err != nil {
		return err
	}
	if owner != nil {
		if err := t.f.Chown(owner.UID, owner.GID); err != nil {
			return err
		}
	}
	if fi, err := t.root.Lstat(t.dest); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: destination is a directory", t.dest)
	}
	if err := t.root.Rename(t.name, t.dest); err != nil {
		return err
	}
	f := t.f
	t.f = nil
	if err := f.Close(); err != nil {
		return err
	}
	if d, err := t.root.Open(path.Dir(t.dest)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// abort removes the temp file; after commit it does nothing.
func (t *tempFile) abort() {
	if t == nil || t.f == nil {
		return
	}
	t.f.Close()
	_ = t.root.Remove(t.name)
	t.f = nil
}
