package display

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/djok/modelfetch/pkg/mirror"
)

// PushProblems are mirror push's error lines: each file not pushed, each
// model without a file, and what stopped the push.
func PushProblems(r *mirror.PushReport, err error, missing []mirror.Missing, hint string) []Problem {
	var out []Problem
	if r != nil {
		for _, b := range r.Blobs {
			if b.Err != nil {
				out = append(out, Problem{Message: b.Blob.Name + ": " + OneLine(b.Err)})
			}
		}
	}
	if err != nil {
		out = append(out, Problem{Message: OneLine(err)})
	}
	for _, m := range missing {
		out = append(out, Problem{Message: m.Reason})
	}
	if len(missing) > 0 {
		out[len(out)-1].Hint = hint
	}
	return out
}

// pushCounts counts the blobs of a push by status.
func pushCounts(r *mirror.PushReport) map[mirror.BlobStatus]int {
	n := map[mirror.BlobStatus]int{}
	for _, b := range r.Blobs {
		n[b.Status]++
	}
	return n
}

func PushSummary(r *mirror.PushReport, missing int) string {
	n := pushCounts(r)
	counts := fmt.Sprintf("%d uploaded, %d mounted, %d already there, %d failed",
		n[mirror.BlobUploaded], n[mirror.BlobMounted], n[mirror.BlobPresent], n[mirror.BlobFailed])
	switch {
	case r.Manifest.IsZero():
		return fmt.Sprintf("mirror push: %s: %s, %d with no file; not tagged: the set is incomplete", r.Reference, counts, missing)
	case r.ManifestExisted:
		return fmt.Sprintf("mirror push: already tagged %s (sha256:%s): %s", r.Reference, r.Manifest, counts)
	}
	return fmt.Sprintf("mirror push: tagged %s (sha256:%s): %s", r.Reference, r.Manifest, counts)
}

// mirrorPush is fetch --mirror-push: the files the run installed (or found
// installed) go to the first registry mirror, so the first builder fills
// the mirror for the others. Blobs the registry has are only HEADed. It
// Push is what fetch --mirror-push did, in fetch's --json document.
type Push struct {
	Mirror    string `json:"mirror"`
	Reference string `json:"reference,omitempty"`
	Manifest  string `json:"manifest,omitempty"` // empty: nothing was tagged
	Uploaded  int    `json:"uploaded"`
	Mounted   int    `json:"mounted"`
	Present   int    `json:"already_there"`
	Failed    int    `json:"failed"`
	NoFile    int    `json:"no_file"`
	Retries   int    `json:"retries"`
	Error     string `json:"error,omitempty"`
}

func PushJSON(target mirror.Mirror, r *mirror.PushReport, err error, missing int) *Push {
	j := &Push{Mirror: target.String(), NoFile: missing}
	if err != nil {
		j.Error = OneLine(err)
	}
	if r == nil {
		return j
	}
	j.Reference, j.Retries = r.Reference, r.Retries
	if !r.Manifest.IsZero() {
		j.Manifest = "sha256:" + r.Manifest.String()
	}
	n := pushCounts(r)
	j.Uploaded, j.Mounted, j.Present, j.Failed = n[mirror.BlobUploaded], n[mirror.BlobMounted], n[mirror.BlobPresent], n[mirror.BlobFailed]
	return j
}

// WritePushJSON prints mirror push's result document (its errors shaped as
// fetch's).
func WritePushJSON(w io.Writer, code int, r *mirror.PushReport, probs []Problem) error {
	type file struct {
		Name    string `json:"name"`
		Path    string `json:"path"`
		SHA256  string `json:"sha256"`
		Size    int64  `json:"size"`
		Status  string `json:"status"`
		Retries int    `json:"retries"`
		Error   string `json:"error,omitempty"`
	}
	doc := struct {
		Command         string    `json:"command"`
		OK              bool      `json:"ok"`
		ExitCode        int       `json:"exit_code"`
		Reference       string    `json:"reference,omitempty"`
		Manifest        string    `json:"manifest,omitempty"`
		ManifestExisted bool      `json:"manifest_existed"`
		Retries         int       `json:"retries"`
		Files           []file    `json:"files"`
		Errors          []Problem `json:"errors"`
	}{Command: "mirror push", OK: code == 0, ExitCode: code, Files: []file{}, Errors: append([]Problem{}, probs...)}
	if r != nil {
		doc.Reference, doc.ManifestExisted, doc.Retries = r.Reference, r.ManifestExisted, r.Retries
		if !r.Manifest.IsZero() {
			doc.Manifest = "sha256:" + r.Manifest.String()
		}
		for _, b := range r.Blobs {
			f := file{Name: b.Blob.Name, Path: b.Blob.Path, SHA256: b.Blob.Digest.String(), Size: b.Blob.Size, Status: string(b.Status), Retries: b.Retries}
			if b.Err != nil {
				f.Error = OneLine(b.Err)
			}
			doc.Files = append(doc.Files, f)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
