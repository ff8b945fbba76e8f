package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/djok/modelfetch/pkg/digest"
)

// Verify re-hashes each target's installed file, offline, jobs at a time
// (0: 4). It needs no network configuration.
func Verify(ctx context.Context, targets []Target, jobs int) []Result {
	return each(ctx, orDefault(jobs, 4), len(targets), targetResult(targets), func(i int) Result {
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
	c := f.o.Cache
	return each(ctx, f.o.Jobs, len(targets), targetResult(targets), func(i int) Result {
		t := targets[i]
		m := t.Model
		r := targetResult(targets)(i)
		r.Status = StatusWouldGet
		if cands := f.candidates(m); len(cands) > 0 {
			r.Source, r.Mirror = cands[0].name, cands[0].mirror
		}
		if verifyFile(ctx, t) == nil {
			r.Status, r.Source = StatusUpToDate, ""
		} else if c != nil && c.Has(m.SHA256) {
			r.Status, r.Source = StatusWouldCopy, "cache"
		}
		return r
	})
}

// Why an installed file is not the one wanted, besides a digest or size
// mismatch (digest.IsIntegrity).
var (
	errMissing    = errors.New("missing")
	errNotRegular = errors.New("not a regular file")
)

// checkInstalled verifies rel inside root against want and size (when >= 0),
// reading it once. A file of the wrong length fails without being read.
func checkInstalled(ctx context.Context, root *os.Root, rel string, want digest.Digest, size int64) error {
	fi, err := root.Lstat(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errMissing
	case errors.Is(err, syscall.ENOTDIR):
		return notAFolder(root, rel, err)
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return errNotRegular
	case size >= 0 && fi.Size() != size:
		return &digest.SizeError{Got: fi.Size(), Want: size, Over: fi.Size() > size}
	}
	f, err := root.Open(rel)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = copyCtx(ctx, io.Discard, digest.NewReader(f, want, size))
	return err
}

// matches reports whether rel inside root is a regular file with digest want
// (and size, when size >= 0). A missing or different file is (false, nil).
func matches(ctx context.Context, root *os.Root, rel string, want digest.Digest, size int64) (bool, error) {
	switch err := checkInstalled(ctx, root, rel, want, size); {
	case err == nil:
		return true, nil
	case errors.Is(err, errMissing), errors.Is(err, errNotRegular), digest.IsIntegrity(err):
		return false, nil
	default:
		return false, err
	}
}

// notAFolder names the first folder of rel that is a file (or anything but
// a folder), for err, which said only that some part was not a directory.
func notAFolder(root *os.Root, rel string, err error) error {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for i := 1; i < len(parts); i++ {
		dir := path.Join(parts[:i]...)
		if fi, serr := root.Lstat(dir); serr == nil && !fi.IsDir() {
			return fmt.Errorf("%s is a file, not a folder: %s cannot be made in it: %w", dir, rel, syscall.ENOTDIR)
		}
	}
	return err
}
