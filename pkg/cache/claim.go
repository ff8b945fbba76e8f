package cache

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/djok/modelfetch/internal/fsutil"
	"github.com/djok/modelfetch/pkg/digest"
)

// A claim says "this process is getting d": an flock on claimDir/<hex>.lock,
// so that processes sharing the cache download each blob once. It is not
// the lock command (pkg/lock), nor fsutil's flock of a temp file (which only
// tells a live writer's temp file from a dead run's).

// Claim takes the claim on d, waiting until it is free or ctx is done. Hold
// it while downloading d so other processes wait and then find the blob. It
// fails only with ctx's error: where the claim cannot be taken (no flock on
// this filesystem, a cache that cannot be written) it returns at once without
// one, since temp+rename keeps every blob whole anyway. A claim file that is
// not a regular file (a symlink, a FIFO) is replaced, never followed.
func (c *Cache) Claim(ctx context.Context, d digest.Digest) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	noop := func() {}
	if c.NoClaim {
		return noop, nil
	}
	root, err := c.make()
	if err != nil {
		return noop, nil
	}
	defer root.Close()
	name := path.Join(claimDir, d.String()+".lock")
	for attempt := 0; attempt < 10; attempt++ {
		f, err := openClaimFile(root, name)
		if err != nil {
			return noop, nil
		}
		held, err := waitClaim(ctx, f)
		if err != nil {
			f.Close()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return noop, nil
		}
		if held && sameFile(root, name, f) {
			return func() { f.Close() }, nil // closing lets go of the claim
		}
		// Clean removed the file while we waited: what we hold claims
		// nothing any other process can see. Claim the new one.
		f.Close()
	}
	return noop, nil // the claim file keeps changing under us: go on without one
}

// openClaimFile opens (or creates) the claim file name, replacing an entry
// that is not a regular file.
func openClaimFile(root *os.Root, name string) (*os.File, error) {
	for attempt := 0; ; attempt++ {
		f, err := fsutil.OpenRegular(root, name, os.O_RDWR|os.O_CREATE, 0o644)
		if errors.Is(err, fs.ErrPermission) || isReadOnly(err) {
			// flock needs no write access: a read-only cache still locks.
			f, err = fsutil.OpenRegular(root, name, os.O_RDONLY, 0)
		}
		if errors.Is(err, fsutil.ErrNotRegular) && attempt == 0 {
			_ = root.Remove(name)
			continue
		}
		return f, err
	}
}

// waitClaim tries to flock f until it holds it or ctx is done.
func waitClaim(ctx context.Context, f *os.File) (bool, error) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		ok, err := fsutil.TryFlock(f)
		if ok || err != nil {
			return ok, err
		}
		t.Reset(claimPoll)
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-t.C:
		}
	}
}

// sameFile reports whether name still leads to the open file f.
func sameFile(root *os.Root, name string, f *os.File) bool {
	fi, err1 := f.Stat()
	named, err2 := root.Lstat(name)
	return err1 == nil && err2 == nil && os.SameFile(fi, named)
}

// removeUnheldClaim removes the claim file name if nobody holds it, or if it
// is not a regular file. Claim checks, once it holds a claim, that the name
// still leads to its file, so removing one it is about to take is harmless.
func removeUnheldClaim(root *os.Root, name string) bool {
	f, err := fsutil.OpenRegular(root, name, os.O_RDONLY, 0)
	if errors.Is(err, fsutil.ErrNotRegular) {
		return root.Remove(name) == nil
	}
	if err != nil {
		return false
	}
	defer f.Close()
	if ok, err := fsutil.TryFlock(f); err != nil || !ok || !sameFile(root, name, f) {
		return false
	}
	return root.Remove(name) == nil
}
