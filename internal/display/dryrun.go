package display

import (
	"fmt"
	"strings"

	"github.com/djok/modelfetch/pkg/manifest"
)

// DryRunURLs prints, for --dry-run, each model's URLs (urls, by model) in
// the order they are tried (mirrors first, then the manifest's after the
// rules, when there are any), and those the rules block.
func (u *UI) DryRunURLs(models []*manifest.Model, urls map[string][]string, blocked func(model string) []string) {
	for _, m := range models {
		list := strings.Join(urls[m.Name], ", ")
		if list == "" {
			list = "none"
		}
		line := fmt.Sprintf("%s: urls: %s", m.Name, list)
		if b := blocked(m.Name); len(b) > 0 {
			line += fmt.Sprintf(" (blocked: %s)", strings.Join(b, ", "))
		}
		u.Infof(false, "%s", line)
	}
}
