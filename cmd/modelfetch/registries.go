package main

import (
	"context"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/lock"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/mirror"
)

// registries are the mirrors, then the registries the plans' oci:// sources
// read from (mirror.WithRegistries).
func (sp *sitePlan) registries(mirrors []mirror.Mirror) []mirror.Mirror {
	var refs []*manifest.Ref
	for _, p := range sp.Plans {
		for _, c := range p.Candidates {
			refs = append(refs, c.Source.Ref)
		}
	}
	return mirror.WithRegistries(mirrors, refs)
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
	if o.registry == nil && mirror.HasRegistry(registries) && env.dockerConfig() != "" {
		o.registry = mirror.DockerCredentials(env.dockerConfig())
	}
	return o.registry
}
