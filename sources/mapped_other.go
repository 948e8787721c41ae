//go:build !linux

package sources

import "os"

// produceMapped reads through a memory mapping on Linux only; elsewhere
// every file takes the reading path.
func produceMapped(in *input, f *os.File, size int64, send func(job) bool) (bool, error) {
	return false, nil
}
