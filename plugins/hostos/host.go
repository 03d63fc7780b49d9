package hostos

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/escalator-nfv/escalator/plugins/hostos/pkgs"
	"github.com/escalator-nfv/escalator/plugins/hostos/remote"
)

// host is one configured host, as an action or the inventory sees it.
type host struct {
	p   *Provider
	cfg *Config
	hc  HostConfig
	t   remote.Target
}

// run runs a shell command on the host, within command_timeout (and the
// step's own deadline, which ctx carries).
func (h *host) run(ctx context.Context, cmd string, stdin []byte) (*remote.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.CommandTimeout)
	defer cancel()
	return h.p.pool.Run(ctx, h.t, cmd, stdin)
}

// wrapCommand is the line sent for a command: under sh whatever the
// user's login shell, and under sudo -n (never prompting) when asked.
func wrapCommand(sudo bool) func(string) string {
	return func(cmd string) string {
		line := "sh -c " + remote.Quote(cmd)
		if sudo {
			line = "sudo -n " + line
		}
		return line
	}
}

// output runs cmd and returns its standard output.
func (h *host) output(ctx context.Context, cmd string) (string, error) {
	r, err := h.run(ctx, cmd, nil)
	if err != nil {
		return "", err
	}
	return r.Stdout, nil
}

// manager is the host's package manager: configured, or detected once.
func (h *host) manager(ctx context.Context) (pkgs.Manager, error) {
	if h.cfg.PackageManager != "auto" {
		return pkgs.ByName(h.cfg.PackageManager)
	}
	h.p.mu.Lock()
	m := h.p.managers[h.hc.Name]
	h.p.mu.Unlock()
	if m != nil {
		return m, nil
	}
	out, err := h.output(ctx, pkgs.DetectCommand)
	if err != nil {
		return nil, fmt.Errorf("detect the package manager: %w", err)
	}
	name := strings.TrimSpace(out)
	if name == "none" {
		return nil, fmt.Errorf("%s has neither dpkg/apt-get nor rpm/dnf: hostos manages Debian, Ubuntu and RHEL-like hosts", h.hc.Name)
	}
	m, err = pkgs.ByName(name)
	if err != nil {
		return nil, err
	}
	h.p.mu.Lock()
	h.p.managers[h.hc.Name] = m
	h.p.mu.Unlock()
	return m, nil
}

// query reads the state of packages.
func (h *host) query(ctx context.Context, m pkgs.Manager, names []string) (map[string]pkgs.Installed, error) {
	out, err := h.output(ctx, m.Query(names))
	if err != nil {
		return nil, fmt.Errorf("read installed versions: %w", err)
	}
	res, err := m.ParseQuery(out, names)
	if err != nil {
		return nil, fmt.Errorf("read installed versions on %s: %w", h.hc.Name, err)
	}
	return res, nil
}

// bootIDCommand prints the kernel's boot id, which changes at every boot.
const bootIDCommand = "cat /proc/sys/kernel/random/boot_id"

func (h *host) bootID(ctx context.Context) (string, error) {
	out, err := h.output(ctx, bootIDCommand)
	if err != nil {
		return "", fmt.Errorf("read the boot id: %w", err)
	}
	return strings.TrimSpace(out), nil
}

// readFile returns a file's content, "" when it does not exist.
func (h *host) readFile(ctx context.Context, p string) (string, error) {
	out, err := h.output(ctx, "if [ -e "+remote.Quote(p)+" ]; then cat "+remote.Quote(p)+"; fi")
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return out, nil
}

// writeFile replaces a file atomically (written aside, then renamed).
func (h *host) writeFile(ctx context.Context, p, content string) error {
	q, tmp := remote.Quote(p), remote.Quote(p+".tmp")
	cmd := "mkdir -p " + remote.Quote(path.Dir(p)) + " && cat >" + tmp + " && mv -f " + tmp + " " + q
	if _, err := h.run(ctx, cmd, []byte(content)); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// record is a small key=value file the provider keeps on the host: what
// an action has done so far, so a resumed step carries on.
type record map[string]string

func parseRecord(s string) record {
	r := record{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k != "" {
			r[k] = v
		}
	}
	return r
}

func (r record) String() string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, strings.ReplaceAll(r[k], "\n", " "))
	}
	return b.String()
}

func (h *host) readRecord(ctx context.Context, p string) (record, error) {
	s, err := h.readFile(ctx, p)
	if err != nil {
		return nil, err
	}
	return parseRecord(s), nil
}

func (h *host) saveRecord(ctx context.Context, p string, r record) error {
	return h.writeFile(ctx, p, r.String())
}

// servicesCommand prints "NAME active" or "NAME inactive" per service.
func servicesCommand(svcs []string) string {
	return "for s in " + remote.QuoteAll(svcs...) + `; do if systemctl is-active --quiet "$s"; then echo "$s active"; else echo "$s inactive"; fi; done`
}

// inactive lists the services that are not active.
func (h *host) inactive(ctx context.Context, svcs []string) ([]string, error) {
	if len(svcs) == 0 {
		return nil, nil
	}
	out, err := h.output(ctx, servicesCommand(svcs))
	if err != nil {
		return nil, fmt.Errorf("check services: %w", err)
	}
	return parseInactive(out, svcs), nil
}

func parseInactive(out string, svcs []string) []string {
	active := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if name, state, ok := strings.Cut(strings.TrimSpace(line), " "); ok && state == "active" {
			active[name] = true
		}
	}
	var bad []string
	for _, s := range svcs {
		if !active[s] {
			bad = append(bad, s)
		}
	}
	return bad
}

// restart restarts services: apt does not (policy-rc.d, or a package that
// leaves it to the admin), so a daemon would keep running its old binary.
func (h *host) restart(ctx context.Context, svcs []string) error {
	for _, s := range svcs {
		if _, err := h.run(ctx, "systemctl restart "+remote.Quote(s), nil); err != nil {
			return fmt.Errorf("restart %s: %w", s, err)
		}
	}
	return nil
}

// waitServices waits until every service is active, polling until ctx
// ends; the error names those still inactive.
func (h *host) waitServices(ctx context.Context, svcs []string) error {
	var bad []string
	var err error
	for {
		bad, err = h.inactive(ctx, svcs)
		if err == nil && len(bad) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return err
			}
			return fmt.Errorf("services not active on %s: %s (%w)", h.hc.Name, strings.Join(bad, ", "), ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// rebootCommand asks for a reboot a second after the SSH command has
// returned, so that the command ends cleanly rather than with its
// connection.
const rebootCommand = `c='sleep 1; systemctl reboot || /sbin/reboot'; if command -v setsid >/dev/null 2>&1; then setsid sh -c "$c" </dev/null >/dev/null 2>&1 & else nohup sh -c "$c" </dev/null >/dev/null 2>&1 & fi; echo scheduled`

// ErrRebootTimeout is a host that did not come back from a reboot in time.
var ErrRebootTimeout = errors.New("did not come back from its reboot in time")

// reboot reboots the host and waits until it is back: SSH answers (with
// the host key known_hosts has) and reports a boot id other than before,
// then the services are active. It returns the new boot id.
func (h *host) reboot(ctx context.Context, before string, svcs []string, progress func(string)) (string, error) {
	start := time.Now()
	deadline := start.Add(h.cfg.RebootTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if _, err := h.run(ctx, rebootCommand, nil); err != nil && !remote.Unreachable(err) {
		return "", fmt.Errorf("ask %s to reboot: %w", h.hc.Name, err)
	}
	h.p.pool.Forget(h.t)
	progress(fmt.Sprintf("%s is rebooting (boot id %s); waiting up to %s for it to come back", h.hc.Name, before, time.Until(deadline).Round(time.Second)))

	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var last error
	for {
		// Each attempt is short: a host that is down drops packets, and
		// a dial would otherwise wait for the whole connect timeout.
		actx, acancel := context.WithTimeout(wctx, min(5*time.Second, h.cfg.ConnectTimeout))
		id, err := h.bootID(actx)
		acancel()
		var hk *remote.HostKeyError
		switch {
		case errors.As(err, &hk):
			return "", err // a new key after a reboot is not ours to accept
		case err == nil && id != before && id != "":
			if err := h.waitServices(wctx, svcs); err != nil {
				return "", fmt.Errorf("%s came back from its reboot (boot id %s) but its services did not start within reboot_timeout (%s): %w",
					h.hc.Name, id, h.cfg.RebootTimeout, err)
			}
			return id, nil
		case err == nil:
			last = fmt.Errorf("still the boot id %s: not rebooted yet", id)
			// The reboot is still to come: drop the connection it will cut.
			h.p.pool.Forget(h.t)
		default:
			last = err
			h.p.pool.Forget(h.t)
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil && !errors.Is(wctx.Err(), context.DeadlineExceeded) {
				return "", fmt.Errorf("waiting for %s to come back from its reboot: %w", h.hc.Name, ctx.Err())
			}
			return "", fmt.Errorf("%s %w: no SSH answer with a new boot id within %s (reboot_timeout %s; boot id before %s; last attempt: %v). Check the host's console; once it is back, apply again to resume",
				h.hc.Name, ErrRebootTimeout, time.Since(start).Round(time.Second), h.cfg.RebootTimeout, before, last)
		case <-time.After(time.Second):
		}
	}
}
