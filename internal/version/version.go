// Package version holds the version of the escalator binary.
package version

import "strings"

// Version is the release version, without a leading "v". Release builds set
// it at link time:
//
//	go build -ldflags "-X github.com/escalator-nfv/escalator/internal/version.Version=1.2.3"
var Version = "0.1.0-dev"

// String returns the name and version as shown to users, such as
// "escalator v0.1.0-dev". A leading "v" given at link time is not doubled.
func String() string {
	return "escalator v" + Number()
}

// Number returns Version without any leading "v", such as "0.1.0-dev".
func Number() string {
	return strings.TrimPrefix(Version, "v")
}
