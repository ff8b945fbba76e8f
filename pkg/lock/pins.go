package lock

import (
	"context"
	"errors"
	"fmt"

	"github.com/djok/modelfetch/pkg/manifest"
)

// Resolvers pins each scheme's moving references with that scheme's
// Resolver (a hub's revision API, a registry's manifest by tag).
type Resolvers map[string]Resolver

// Resolve implements Resolver.
func (rs Resolvers) Resolve(ctx context.Context, r *manifest.Ref) (string, error) {
	res, ok := rs[r.Scheme]
	if !ok {
		return "", fmt.Errorf("%s:// references cannot be pinned by this build", r.Scheme)
	}
	return res.Resolve(ctx, r)
}

// ResolverFunc is a function as a Resolver.
type ResolverFunc func(ctx context.Context, r *manifest.Ref) (string, error)

// Resolve implements Resolver.
func (f ResolverFunc) Resolve(ctx context.Context, r *manifest.Ref) (string, error) { return f(ctx, r) }

// BadReference reports whether err says that a source names something that
// can never be fetched as it is written (a registry index, which has one
// manifest per platform or variant): the manifest is to be mended.
func BadReference(err error) bool {
	var b interface{ BadReference() bool }
	return errors.As(err, &b) && b.BadReference()
}
