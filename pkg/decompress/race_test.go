//go:build race

package decompress

const raceEnabled = true
