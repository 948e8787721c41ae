//go:build race

package gate

// The race detector makes generating traffic ten times slower; the tests
// over seeds then run on fewer seeds (the full counts run without -race).
const raceEnabled = true
