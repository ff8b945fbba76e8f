package main

import (
	"slices"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/mirror"
)

// registries are the registries the plans' oci:// sources read from, as
// registry mirrors (mirror.Transport authenticates the requests to them the
// same way: Docker config, helpers, one token per repository), after the
// mirrors themselves.
func (sp *sitePlan) registries(mirrors []mirror.Mirror) []mirror.Mirror {
	out := slices.Clone(mirrors)
	for _, p := range sp.plans {
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

// registryCredentials are the Docker config's credentials when a registry
// is to be spoken to, looked up once per run (nil: anonymous).
func (o *netOptions) registryCredentials(env env, registries []mirror.Mirror) auth.CredentialFunc {
	if o.registry == nil && hasRegistry(registries) && env.dockerConfig() != "" {
		o.registry = mirror.DockerCredentials(env.dockerConfig())
	}
	return o.registry
}
