package pluginhost

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal has Linux kill the plugin when escalator dies, even
// by SIGKILL or a crash that runs no deferred cleanup: the last guarantee
// against orphan plugin processes. (Pdeathsig fires when the thread that
// started the child exits; the Go runtime does not retire threads that
// started children, except threads locked with runtime.LockOSThread, which
// escalator does not use around plugin starts.)
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
