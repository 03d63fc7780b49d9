//go:build !linux

package pluginhost

import "os/exec"

// setParentDeathSignal does nothing outside Linux, which alone has a
// parent-death signal; Close and CleanupClients remain.
func setParentDeathSignal(*exec.Cmd) {}
