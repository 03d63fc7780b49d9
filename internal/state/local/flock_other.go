//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package local

import (
	"errors"
	"os"
	"runtime"
)

const flockSupported = false

var errWouldBlock = errors.New("lock held elsewhere")

var errNoFlock = errors.New("the local state backend locks with flock(2), which " + runtime.GOOS + " does not have; use the postgres backend")

func tryFlock(*os.File) error { return errNoFlock }

func funlock(*os.File) error { return errNoFlock }
