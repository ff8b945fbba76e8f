package manifest

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// KeyPins is the Edit key that sets a model's pins (Value: a Pins), written
// as one inline-table line, replaced whole when it changes.
const KeyPins = "pins"

// pinsAt is where a new pins line goes: after the model table's last key.
func pinsAt(src string, kvs []*kv, headerEnd int) (int, string) {
	if len(kvs) == 0 {
		return headerEnd, ""
	}
	last := kvs[len(kvs)-1]
	return last.lineEnd, lineIndent(src, last.lineStart)
}

// checkPinsEdit reports whether a pins edit took.
func checkPinsEdit(mod *Model, e Edit) bool {
	return e.Source < 0 && fmt.Sprint(e.Value) == mod.PinList().String()
}

// NewModel is a model table AppendModels writes.
type NewModel struct {
	Name string
	// Dir is written when it is neither "" nor DefaultDir.
	Dir  string
	Path string
	URLs []string
	// SHA256 ("" for none) and Size (-1 for none) of the installed bytes.
	SHA256 string
	Size   int64
	Pins   Pins
}

// AppendModels returns src with a [models.NAME] table added at its end for
// each of ms; every byte of src is kept. An empty text gets `version = 1`
// first. The result is parsed again before it is returned. A name that is
// taken (or given twice) is an ErrorList (a manifest error) naming it.
func AppendModels(file, baseDir string, src []byte, ms []NewModel) ([]byte, error) {
	out := append([]byte{}, src...)
	if len(bytes.TrimSpace(src)) == 0 {
		out = []byte("version = " + strconv.Itoa(SchemaVersion) + "\n")
	} else if _, err := Parse(file, baseDir, src); err != nil {
		return nil, err
	}
	cur, err := Parse(file, baseDir, out)
	if err != nil {
		return nil, err
	}
	nl := "\n" // the file's line ending: a manifest written on Windows keeps its own
	if bytes.Contains(src, []byte("\r\n")) {
		nl = "\r\n"
	}
	seen := map[string]bool{}
	for _, nm := range ms {
		if !validName(nm.Name) {
			return nil, ErrorList{{File: file, Key: "models." + nm.Name, Msg: "model names use letters, digits, '.', '_' and '-'"}}
		}
		if old := cur.Model(nm.Name); old != nil || seen[nm.Name] {
			e := &Error{File: file, Key: "models." + nm.Name, Msg: "a model of that name exists already", Hint: "pick another NAME"}
			if old != nil {
				e.Line = old.Line
			}
			return nil, ErrorList{e}
		}
		seen[nm.Name] = true
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, nl...)
		}
		if !bytes.HasSuffix(out, []byte("\n\n")) && !bytes.HasSuffix(out, []byte("\n\r\n")) {
			out = append(out, nl...)
		}
		out = append(out, strings.ReplaceAll(renderModel(nm), "\n", nl)...)
	}
	if len(out) > MaxManifestSize {
		return nil, fmt.Errorf("%s: the manifest would be larger than %d bytes (1 MiB); nothing written", file, MaxManifestSize)
	}
	m, err := Parse(file, baseDir, out)
	if err != nil {
		return nil, err
	}
	for _, nm := range ms {
		if mod := m.Model(nm.Name); mod == nil || len(mod.Sources) != len(nm.URLs) {
			return nil, fmt.Errorf("%s: models.%s did not take (a bug; nothing written)", file, nm.Name)
		}
	}
	return out, nil
}

func renderModel(nm NewModel) string {
	name := nm.Name
	if strings.Contains(name, ".") {
		name = strconv.Quote(name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[models.%s]\n", name)
	if nm.Dir != "" && nm.Dir != DefaultDir {
		fmt.Fprintf(&b, "dir = %s\n", strconv.Quote(nm.Dir))
	}
	fmt.Fprintf(&b, "path = %s\n", strconv.Quote(nm.Path))
	if nm.SHA256 != "" {
		fmt.Fprintf(&b, "sha256 = %s\n", strconv.Quote(nm.SHA256))
	}
	if nm.Size >= 0 {
		fmt.Fprintf(&b, "size = %d\n", nm.Size)
	}
	urls := make([]string, len(nm.URLs))
	for i, u := range nm.URLs {
		urls[i] = strconv.Quote(u)
	}
	fmt.Fprintf(&b, "urls = [%s]\n", strings.Join(urls, ", "))
	if len(nm.Pins) > 0 {
		fmt.Fprintf(&b, "pins = %s\n", nm.Pins)
	}
	return b.String()
}
