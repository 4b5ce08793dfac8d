//go:build !unix && !windows

package profilestore

import "os"

// Platforms without file locks (js, wasip1, plan9) do not serialise writers.
func tryLock(*os.File) (bool, error) { return false, nil }
func unlock(*os.File) error          { return nil }
