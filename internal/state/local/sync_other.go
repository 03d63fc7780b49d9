//go:build !linux

package local

import "os"

// datasync makes f's data durable; without fdatasync(2), fsync(2).
func datasync(f *os.File) error { return f.Sync() }
