// Package fetch downloads, verifies and installs the artifacts of a manifest.
//
// Each artifact flows through one streaming pipeline, every byte read once:
//
//	Install / Warm / Probe           install.go, warm.go, probe.go
//	  (Targets: where each model goes)                            target.go
//	  │  one goroutine per artifact, Jobs at once                   pool.go
//	  ▼
//	download: the sources in order                              pipeline.go
//	  ▼
//	source ── open(offset) ──▶ body                                source.go
//	  httpSource: one checked GET (get), or chunks over   httpsource.go,
//	  several connections (parallel), under a per-host     parallel.go,
//	  budget that backs off on 429/503                          host.go
//	  fileSource: a local file                                     source.go
//	  ▼
//	stream: retries and resumes the source inside Read             stream.go
//	  under the retry policy and a stall/trickle watchdog policy.go, watchdog.go
//	  ▼
//	pipe: as-served size/digest → decompress → installed   pipeline.go
//	  size cap and SHA-256 (inside Read, at EOF) → sinks
//	  ▼
//	temp file beside the destination (+ cache temp file)           install.go
//	  → fsync → chmod/chown → rename                       install.go, root.go
//
// Verification errors surface from Read, so a failed copy commits nothing: a
// file that fails verification never appears at its destination, and a
// previous good file is never replaced by a bad one. Every stage that reads
// in its own goroutine (the parallel chunk workers, the bzip2 decoder) is
// joined by its Close before its input is closed. What a failure means
// (retry, next source, stop) is decided in errors.go and policy.go; what
// an artifact ended as, in result.go. Verify (verify.go) re-hashes installed
// files and needs no Fetcher.
//
// The package never prints; progress and events go to an Observer.
package fetch
