//go:build !unix

package pluginhost

const hostModeEnv = "PLUGINHOST_TEST_HOST_MODE"

func hostMain(string) int { return 2 }
