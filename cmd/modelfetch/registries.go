package main

import (
	"context"
	"slices"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/lock"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/mirror"
)

// registries are the registries the plans' oci:// sources read from, as
// registry mirrors (mirror.Transport authenticates the requests to them the
// same way: Docker config, helpers, one token per repository), after the
// mirrors themselves.
func (sp *sitePlan) registries(mirrors []mirror.Mirror) []mirror.Mirror {
	out := slices.Clone(mirrors)
	for _, p := range sp.Plans {
		for _, c := range p.Candidates {
			r := c.Source.Ref
			if r == nil || r.Scheme == manifest.SchemeHF {
				continue
			}
			m := mirror.Mirror{Kind: mirror.OCI, Registry: r.Registry, Repository: r.Repo, PlainHTTP: r.Scheme == manifest.SchemeOCIHTTP}
			if !slices.ContainsFunc(out, func(o mirror.Mirror) bool {
				return o.Kind == mirror.OCI && o.Registry == m.Registry && o.PlainHTTP == m.PlainHTTP
			}) {
				out = append(out, m)
			}
		}
	}
	return out
}

// pinResolvers pin lock's moving references: hf:// with hub, oci:// by the
// manifest digest its tag names, read by the fetcher f returns (made after
// this is called, by add).
func pinResolvers(hub lock.Resolver, f func() *fetch.Fetcher) lock.Resolvers {
	registry := lock.ResolverFunc(func(ctx context.Context, r *manifest.Ref) (string, error) {
		return f().OCIManifestDigest(ctx, r)
	})
	return lock.Resolvers{manifest.SchemeHF: hub, manifest.SchemeOCI: registry, manifest.SchemeOCIHTTP: registry}
}

// registryCredentials are the Docker config's credentials when a registry
// is to be spoken to, looked up once per run (nil: anonymous).
func (o *netOptions) registryCredentials(env env, registries []mirror.Mirror) auth.CredentialFunc {
	if o.registry == nil && hasRegistry(registries) && env.dockerConfig() != "" {
		o.registry = mirror.DockerCredentials(env.dockerConfig())
	}
	return o.registry
}
