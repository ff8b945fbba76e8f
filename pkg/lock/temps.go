package lock

import (
	"os"
	"regexp"
	"time"

	"github.com/djok/modelfetch/internal/fsutil"
)

// The temp files a manifest write leaves when its run is killed between
// creating the temp and renaming it into place.
//
// Today's writes make a temp with fsutil.CreateTemp, held locked (flock)
// until it is renamed: one that nobody holds belongs to a dead run, and
// fsutil.RemoveStaleTemps removes exactly those, whichever cache folder (and
// so whichever manifest lock) that run used. A lock still running holds its
// temp, which is left alone.
//
// Earlier releases made ".NAME.DIGITS.tmp" (os.CreateTemp), unlocked. Such a
// temp is removed only while this run holds the manifest's lock, which every
// writer of the manifest through the same cache holds across its whole
// write, and only when it is older than legacyTempAge: a write takes
// milliseconds, so an older one is no live run's.
const legacyTempAge = time.Minute

// removeStaleTemps sweeps the folder of the manifest at the real path file
// (its base name base) and reports how many temps it removed. Errors are
// ignored: a temp that cannot be removed costs disk, not correctness.
func removeStaleTemps(dir, base string, now time.Time) int {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0
	}
	defer root.Close()
	n, _ := fsutil.RemoveStaleTemps(root, ".")
	legacy := regexp.MustCompile(`^\.` + regexp.QuoteMeta(base) + `\.[0-9]+\.tmp$`)
	des, err := os.ReadDir(dir)
	if err != nil {
		return n
	}
	for _, de := range des {
		if !de.Type().IsRegular() || !legacy.MatchString(de.Name()) {
			continue
		}
		if fi, err := de.Info(); err == nil && now.Sub(fi.ModTime()) > legacyTempAge && root.Remove(de.Name()) == nil {
			n++
		}
	}
	return n
}
