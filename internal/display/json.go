package display

import (
	"encoding/json"
	"errors"
	"io"

	"github.com/djok/modelfetch/pkg/fetch"
)

// jsonResult is one artifact in the --json document.
type jsonResult struct {
	Name        string   `json:"name"`
	Status      string   `json:"status"`
	Path        string   `json:"path,omitempty"`
	Size        int64    `json:"size"`
	SHA256      string   `json:"sha256"`
	Source      string   `json:"source,omitempty"`
	Mirror      string   `json:"mirror,omitempty"` // the mirror Source belongs to
	URLs        []string `json:"urls,omitempty"`   // the URLs tried in order, after the url rules
	ServedBytes int64    `json:"served_bytes"`
	Retries     int      `json:"retries"`
	Seconds     float64  `json:"seconds"`
	// Fixed: the bytes were right, the mode or owner was set again.
	Fixed    bool       `json:"fixed,omitempty"`
	Warnings []string   `json:"warnings,omitempty"`
	Error    *jsonError `json:"error,omitempty"`
}

type jsonError struct {
	Kind     string   `json:"kind"`
	Messages []string `json:"messages"`
}

var kindNames = map[fetch.Kind]string{
	fetch.KindNetwork: "network", fetch.KindIntegrity: "integrity",
	fetch.KindLocal: "local", fetch.KindCanceled: "interrupted",
}

// WriteJSON prints the result document: the artifacts (with the URLs each
// is tried from, when known), and the problems of a run that failed before
// it had any (a usage or manifest error).
func WriteJSON(w io.Writer, command string, code int, results []fetch.Result, urls map[string][]string, errs []Problem, push *Push) error {
	doc := struct {
		Command    string       `json:"command"`
		OK         bool         `json:"ok"`
		ExitCode   int          `json:"exit_code"`
		Artifacts  []jsonResult `json:"artifacts"`
		Errors     []Problem    `json:"errors"`
		MirrorPush *Push        `json:"mirror_push,omitempty"`
	}{Command: command, OK: code == 0, ExitCode: code, Artifacts: []jsonResult{}, Errors: errs, MirrorPush: push}
	if doc.Errors == nil {
		doc.Errors = []Problem{}
	}
	for _, r := range results {
		jr := jsonResult{Name: r.Name, Status: string(resultStatus(r)), Path: r.Dest, Size: r.Size,
			SHA256: r.Digest.String(), Source: r.Source, Mirror: r.Mirror, URLs: urls[r.Name], ServedBytes: r.Served, Retries: r.Retries,
			Seconds: float64(r.Duration.Milliseconds()) / 1000, Fixed: r.Fixed}
		for _, w := range r.Warnings {
			jr.Warnings = append(jr.Warnings, OneLine(w))
		}
		var fe *fetch.Error
		if errors.As(r.Err, &fe) {
			jr.Error = &jsonError{Kind: kindNames[fe.Kind], Messages: fe.Lines()}
		}
		doc.Artifacts = append(doc.Artifacts, jr)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
