package local

import (
	"os"
	"syscall"
)

// datasync makes f's data durable, and the metadata needed to read it back
// (the size of an appended file), without the rest of its metadata (times):
// the cheapest call that makes an append survive a power loss.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
