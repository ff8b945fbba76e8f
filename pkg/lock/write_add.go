package lock

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/djok/modelfetch/pkg/manifest"
)

// Rewrite replaces the manifest file by planned, under the same lock and
// atomic replacement as Write. read is the text planned was made from;
// when another writer changed the file meanwhile, redo makes the change
// again on the text as that writer left it. Nothing is written when redo
// fails or nothing changes.
func Rewrite(ctx context.Context, file string, read, planned []byte, cacheDir string, redo func(cur []byte) ([]byte, error)) error {
	real, err := filepath.EvalSymlinks(file)
	if err != nil {
		return err
	}
	if real, err = filepath.Abs(real); err != nil {
		return err
	}
	unlock, err := lockFile(ctx, cacheDir, real)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := readManifest(real)
	if err != nil {
		return err
	}
	out := planned
	if !bytes.Equal(cur, read) {
		if out, err = redo(cur); err != nil {
			return err
		}
	}
	if bytes.Equal(out, cur) {
		return nil
	}
	return writeAtomic(real, out)
}

// readManifest reads a manifest's text, at most MaxManifestSize bytes.
func readManifest(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, manifest.MaxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > manifest.MaxManifestSize {
		return nil, fmt.Errorf("%s: larger than %d bytes (1 MiB); refusing to read it", file, manifest.MaxManifestSize)
	}
	return b, nil
}
