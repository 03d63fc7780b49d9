//go:build race

package sdk

// The race detector slows gRPC down about eightfold; tests that push many
// messages scale down under it to keep the suite fast.
func init() { raceEnabled = true }
