//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package local

import (
	"errors"
	"os"
	"syscall"
)

// flockSupported reports whether Lock can work on this platform.
const flockSupported = true

// errWouldBlock is what tryFlock returns when another open file
// description holds the lock.
var errWouldBlock = errors.New("lock held elsewhere")

// tryFlock takes an exclusive flock(2) on f without waiting. flock belongs
// to the open file description, so two opens of the lock file exclude each
// other even within one process, and the kernel drops it when the last
// descriptor closes, which is at the latest when the process dies. Go opens
// files close-on-exec, so provider plugins started by escalator do not
// inherit the descriptor and cannot keep the lock alive after a crash.
func tryFlock(f *os.File) error {
	return control(f, func(fd int) error {
		for {
			err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EWOULDBLOCK:
				return errWouldBlock
			}
			return err
		}
	})
}

// funlock releases the flock taken by tryFlock.
func funlock(f *os.File) error {
	return control(f, func(fd int) error { return syscall.Flock(fd, syscall.LOCK_UN) })
}

// control runs fn on f's descriptor without f.Fd(), which would switch the
// file to blocking mode behind the runtime's back.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
