// Package atomicfile replaces files atomically: the content goes to a
// temporary file in the same directory, is synced, then renamed over the
// target, so a crash leaves the old file or the new one, never half of
// one. State, plans, tokens, control requests and lock files all need it.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Write replaces path with data, with permissions perm, creating the
// directory (0700) if needed.
func Write(path string, data []byte, perm os.FileMode) error {
	return WriteWith(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteWith replaces path with what write writes (for content streamed
// rather than held in memory), with permissions perm.
func WriteWith(path string, perm os.FileMode, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
