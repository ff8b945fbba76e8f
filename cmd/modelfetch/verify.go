package main

import (
	"github.com/djok/modelfetch/pkg/fetch"
	"io"

	"github.com/spf13/cobra"
)

type verifyOptions struct {
	manifestOptions
	json bool
	jobs int
}

func newVerifyCmd(stdout, stderr io.Writer, env env) *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Re-hash installed files against the manifest, offline",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.jobs < 1 {
				return usagef("--jobs must be at least 1")
			}
			fo := &fetchOptions{manifestOptions: o.manifestOptions, netOptions: netOptions{jobs: o.jobs, connections: 1, retries: 0, idle: 1, noCache: true}}
			targets, err := fo.targets(env)
			if err != nil {
				return err
			}
			results := fetch.Verify(cmd.Context(), targets, o.jobs)
			return report(stdout, stderr, "verify", o.json, results, false)
		},
	}
	o.manifestOptions.addFlags(cmd.Flags(), env, true)
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON result document on stdout")
	cmd.Flags().IntVar(&o.jobs, "jobs", 4, "files hashed at once")
	return cmd
}
