package views

import (
	"encoding/json"
	"fmt"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
)

// VersionInfo is what "escalator version" shows.
type VersionInfo struct {
	// Version is the release version without a leading "v", like "0.1.0-dev".
	Version string `json:"version"`
	// Platform is GOOS_GOARCH, like "linux_amd64".
	Platform string `json:"platform"`
	// Go is the Go release the binary was built with, like "go1.26.8".
	Go string `json:"go"`
}

// Version is the view of "escalator version".
type Version interface {
	Version(info VersionInfo)
	Errors(errs []error)
	HelpPrompt()
}

// NewVersion returns the Version view for vt.
func NewVersion(vt arguments.ViewType, view *View) Version {
	switch vt {
	case arguments.ViewJSON:
		return &VersionJSON{View: view}
	case arguments.ViewHuman:
		return &VersionHuman{View: view}
	default:
		panic(fmt.Sprintf("unknown view type %v", vt))
	}
}

// VersionHuman prints "escalator v0.1.0-dev" and the platform.
type VersionHuman struct {
	*View
}

var _ Version = (*VersionHuman)(nil)

func (v *VersionHuman) Version(info VersionInfo) {
	fmt.Fprintf(v.stdout(), "escalator v%s\non %s\n", info.Version, info.Platform)
}

func (v *VersionHuman) HelpPrompt() { v.View.HelpPrompt("version") }

// VersionJSON prints VersionInfo as one line of JSON.
type VersionJSON struct {
	*View
}

var _ Version = (*VersionJSON)(nil)

func (v *VersionJSON) Version(info VersionInfo) {
	out, err := json.Marshal(info)
	if err != nil {
		// Only strings: cannot happen.
		panic(err)
	}
	fmt.Fprintf(v.stdout(), "%s\n", out)
}

func (v *VersionJSON) HelpPrompt() { v.View.HelpPrompt("version") }
