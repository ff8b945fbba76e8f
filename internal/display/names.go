package display

import (
	"fmt"
	"strconv"
	"strings"
)

// NameList joins names for one line: every name when they are few, else
// the first three and how many more ("a, b, c … and 4,997 more").
func NameList(names []string) string {
	const all, shown = 10, 3
	if len(names) <= all {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s … and %s more", strings.Join(names[:shown], ", "), thousands(len(names)-shown))
}

// thousands writes n with a comma between each group of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// MoreProblems is the line that stands for n problems left unprinted.
func MoreProblems(n int) string { return "and " + thousands(n) + " more problems" }
