//go:build race

package vtep

// raceEnabled: sync.Pool drops items at random under the race detector,
// so allocation assertions are skipped.
const raceEnabled = true
