package pluginhost

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// ExecutablePrefix starts the file name of every provider plugin: provider
// "sim" is the executable escalator-provider-sim.
const ExecutablePrefix = "escalator-provider-"

// EnvPluginPath is a colon-separated list of extra directories searched for
// plugins, after the campaign's and escalator's own.
const EnvPluginPath = "ESCALATOR_PLUGIN_PATH"

// CampaignPluginDir is where a campaign keeps plugins of its own, relative
// to the campaign directory. It comes first, so a campaign can pin a
// plugin build regardless of what is installed on the machine.
const CampaignPluginDir = ".escalator/plugins"

// ExecutableName returns the file name of provider name's plugin.
func ExecutableName(name string) string {
	if runtime.GOOS == "windows" {
		return ExecutablePrefix + name + ".exe"
	}
	return ExecutablePrefix + name
}

// SearchDir is one directory searched for plugins.
type SearchDir struct {
	// Path is absolute.
	Path string
	// Origin says why the directory is searched, for messages:
	// "the campaign's plugin directory", "escalator's own directory",
	// "ESCALATOR_PLUGIN_PATH".
	Origin string
}

func (d SearchDir) String() string {
	return fmt.Sprintf("%s (%s)", d.Path, d.Origin)
}

// SearchDirs returns the directories searched for the plugins of the
// campaign in campaignDir, in order: the campaign's .escalator/plugins, the
// directory of the running escalator executable (symlinks resolved, so a
// symlink in /usr/local/bin finds the plugins installed next to the real
// binary), then each entry of ESCALATOR_PLUGIN_PATH.
func SearchDirs(campaignDir string) []SearchDir {
	exe, err := os.Executable()
	if err == nil {
		if resolved, rerr := filepath.EvalSymlinks(exe); rerr == nil {
			exe = resolved
		}
	} else {
		exe = ""
	}
	return searchDirs(campaignDir, exe, os.Getenv(EnvPluginPath))
}

// searchDirs is SearchDirs with its inputs explicit, for tests.
func searchDirs(campaignDir, executable, pluginPath string) []SearchDir {
	var dirs []SearchDir
	seen := map[string]bool{}
	add := func(path, origin string) {
		if path == "" {
			return
		}
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		path = filepath.Clean(path)
		// A directory listed twice (ESCALATOR_PLUGIN_PATH naming escalator's
		// own directory) must not make a plugin look shadowed by itself.
		if seen[path] {
			return
		}
		seen[path] = true
		dirs = append(dirs, SearchDir{Path: path, Origin: origin})
	}
	if campaignDir != "" {
		add(filepath.Join(campaignDir, CampaignPluginDir), "the campaign's plugin directory")
	}
	if executable != "" {
		add(filepath.Dir(executable), "escalator's own directory")
	}
	for _, p := range filepath.SplitList(pluginPath) {
		add(p, EnvPluginPath)
	}
	return dirs
}

// Found is a plugin executable discovery chose.
type Found struct {
	// Name is the provider's name.
	Name string
	// Path is the executable's absolute path.
	Path string
	// Dir is the search directory it was found in.
	Dir SearchDir
	// Shadowed are executables of the same name further down the search
	// order, which Path hides.
	Shadowed []string
}

// NotFoundError is returned by Find when no directory holds the plugin.
type NotFoundError struct {
	Name     string
	Searched []SearchDir
	// NotExecutable are files with the right name that can't be run.
	NotExecutable []string
}

func (e *NotFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no plugin executable %s for provider %q was found. escalator looked in:", ExecutableName(e.Name), e.Name)
	for _, d := range e.Searched {
		fmt.Fprintf(&b, "\n  %s", d)
	}
	for _, p := range e.NotExecutable {
		fmt.Fprintf(&b, "\n%s exists but is not an executable file (chmod +x it if it is the plugin).", p)
	}
	fmt.Fprintf(&b, "\nPut the plugin in one of these directories (a built-in provider is built next to escalator by `make build`), or add its directory to %s.", EnvPluginPath)
	return b.String()
}

// Find returns the first executable named ExecutableName(name) in dirs.
// Later matches are listed in Found.Shadowed and logged at debug level,
// because "which plugin did it run?" is the first question when two
// builds are installed.
func Find(name string, dirs []SearchDir, log hclog.Logger) (*Found, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	file := ExecutableName(name)
	var found *Found
	var notExec []string
	for _, d := range dirs {
		path := filepath.Join(d.Path, file)
		ok, err := isExecutable(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			log.Debug("skipping unreadable plugin candidate", "path", path, "error", err)
			continue
		case !ok:
			notExec = append(notExec, path)
			continue
		}
		if found == nil {
			found = &Found{Name: name, Path: path, Dir: d}
			continue
		}
		found.Shadowed = append(found.Shadowed, path)
		log.Debug("plugin shadowed by one earlier in the search order", "provider", name, "used", found.Path, "shadowed", path)
	}
	if found == nil {
		return nil, &NotFoundError{Name: name, Searched: dirs, NotExecutable: notExec}
	}
	log.Debug("found plugin", "provider", name, "path", found.Path, "in", found.Dir.Origin)
	return found, nil
}

// isExecutable reports whether path is a regular file someone may execute
// (following symlinks, so a symlinked plugin works).
func isExecutable(path string) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() {
		return false, nil
	}
	if runtime.GOOS == "windows" {
		return true, nil
	}
	return fi.Mode().Perm()&0o111 != 0, nil
}

// checkName refuses provider names that could escape the search directory.
func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return fmt.Errorf("invalid provider name %q: a provider name is an identifier such as \"sim\"", name)
	}
	return nil
}
