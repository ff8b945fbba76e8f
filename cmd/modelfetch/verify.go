package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/djok/modelfetch/internal/hints"
	"github.com/djok/modelfetch/pkg/fetch"
)

type verifyOptions struct {
	manifestOptions
	outputOptions
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
			_, targets, err := o.manifestOptions.targets(env)
			if err != nil {
				return err
			}
			rep := reporter{stdout: stdout, stderr: stderr, command: "verify", out: o.outputOptions,
				hints: func(r []fetch.Result) []string { return hints.Verify(r, o.hintRun(env)) }}
			return rep.report(fetch.Verify(cmd.Context(), targets, o.jobs), false)
		},
	}
	o.manifestOptions.addFlags(cmd.Flags(), env, "verify", true)
	o.outputOptions.addFlags(cmd.Flags(), false, true)
	cmd.Flags().IntVar(&o.jobs, "jobs", 4, "files hashed at once")
	return cmd
}
