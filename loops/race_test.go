//go:build race

package loops

// raceEnabled is set when the tests run under the race detector.
const raceEnabled = true
