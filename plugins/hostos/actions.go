package hostos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/escalator-nfv/escalator/plugins/hostos/pkgs"
	"github.com/escalator-nfv/escalator/plugins/hostos/remote"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

// action is one ExecuteAction call.
type action struct {
	p    *Provider
	cfg  *Config
	h    *host
	req  sdk.ExecuteActionRequest
	resp *sdk.ExecuteActionResponse
}

// ExecuteAction performs one action on one host. Every action is
// idempotent: sent again with the same step id (a resumed apply), it
// finishes or confirms what the first attempt did, using what the host
// itself says (installed versions, boot id) and small records the
// provider keeps on the host under state_dir.
func (p *Provider) ExecuteAction(ctx context.Context, req sdk.ExecuteActionRequest, resp *sdk.ExecuteActionResponse) {
	cfg, ok := p.configured(&resp.Diagnostics)
	if !ok {
		return
	}
	h, err := p.host(cfg, req.Host)
	if err != nil {
		resp.Diagnostics.AddError("Unknown host", err.Error()+".")
		return
	}
	a := &action{p: p, cfg: cfg, h: h, req: req, resp: resp}
	switch req.Kind {
	case sdk.ActionEnterMaintenance:
		a.fail(ctx, "Enter maintenance failed", a.enterMaintenance(ctx))
	case sdk.ActionLeaveMaintenance:
		a.fail(ctx, "Leave maintenance failed", a.leaveMaintenance(ctx))
	case sdk.ActionUpgrade:
		a.fail(ctx, "Upgrade failed", a.upgrade(ctx))
	case sdk.ActionRollback:
		a.fail(ctx, "Rollback failed", a.rollback(ctx))
	case sdk.ActionVerify:
		a.fail(ctx, "Verification failed", a.verify(ctx))
	case sdk.ActionBackup:
		a.fail(ctx, "Backup failed", a.backup(ctx))
	case sdk.ActionRestore:
		a.fail(ctx, "Restore failed", a.restore(ctx))
	case sdk.ActionProbe:
		a.fail(ctx, "Probe failed", a.probe(ctx))
	default:
		resp.Diagnostics.Errorf("Unsupported action", "The %s provider does not perform %s.", p.name, req.Kind)
	}
}

// fail turns an action's error into a diagnostic whose summary says what
// kind of trouble it is.
func (a *action) fail(ctx context.Context, summary string, err error) {
	if err == nil {
		return
	}
	var hk *remote.HostKeyError
	switch {
	case errors.As(err, &hk):
		summary = "Host key not trusted"
	case errors.Is(err, ErrRebootTimeout):
		summary = "Host did not come back from its reboot"
	case remote.Unreachable(err):
		summary = "Host unreachable"
	}
	detail := err.Error()
	if !strings.HasSuffix(detail, ".") {
		detail += "."
	}
	a.resp.Diagnostics.AddError(summary, detail)
	slog.ErrorContext(ctx, summary, "error", err) // the SDK adds step, action, host and component
}

func (a *action) progress(msg string, fraction float64) {
	a.resp.Progress(msg, fraction)
}

// stepPath is where the record of this step lives on the host.
func (a *action) stepPath() string {
	sum := sha256.Sum256([]byte(a.req.ID))
	return a.componentDir() + "/steps/" + hex.EncodeToString(sum[:8])
}

func (a *action) componentDir() string {
	return a.cfg.StateDir + "/components/" + a.req.Component
}

// recordMaxAgeDays is how long step records and recorded versions stay on
// a host: far longer than any run, resumed or rolled back.
const recordMaxAgeDays = "90"

// runID is the run's part of a step id (<run id>/<step id>).
func runID(stepID string) string {
	r, _, _ := strings.Cut(stepID, "/")
	return sanitize(r)
}

var unsafeRE = regexp.MustCompile(`[^A-Za-z0-9._-]`)

func sanitize(s string) string {
	s = unsafeRE.ReplaceAllString(s, "_")
	if s == "" || s == "." || s == ".." {
		return "_"
	}
	return s
}

// beforePath is where an upgrade records the versions it found, for a
// rollback in the same run.
func (a *action) beforePath() string {
	return a.componentDir() + "/before-" + runID(a.req.ID)
}

// packages returns the component's packages.
func (a *action) packages() ([]string, error) {
	list, ok := a.cfg.Components[a.req.Component]
	if !ok {
		return nil, fmt.Errorf("the %s provider does not know the packages of component %q: add %s = [\"package\", …] to components in provider %q", a.p.name, a.req.Component, a.req.Component, a.p.name)
	}
	return list, nil
}

// settings decodes the component's settings, reporting problems with their
// attribute paths.
func (a *action) settings() (Settings, bool) {
	s, diags := DecodeSettings(settingsOrNull(a.req.Settings))
	a.resp.Diagnostics = append(a.resp.Diagnostics, diags...)
	if a.p.ext != nil && len(s.Services) == 0 {
		s.Services = a.p.ext.Info().DefaultServices
	}
	return s, !diags.HasErrors()
}

func (a *action) enterMaintenance(ctx context.Context) error {
	reason := a.req.Reason
	if reason == "" {
		reason = "escalator"
	}
	return a.h.writeFile(ctx, a.cfg.StateDir+"/"+maintenanceFileName, reason+"\n")
}

func (a *action) leaveMaintenance(ctx context.Context) error {
	_, err := a.h.run(ctx, "rm -f "+remote.Quote(a.cfg.StateDir+"/"+maintenanceFileName), nil)
	return err
}

// specsAt is every package at one version.
func specsAt(names []string, version string) []pkgs.Spec {
	out := make([]pkgs.Spec, len(names))
	for i, n := range names {
		out[i] = pkgs.Spec{Name: n, Version: version}
	}
	return out
}

// atVersions reports whether every spec is fully installed at its version.
func atVersions(st map[string]pkgs.Installed, specs []pkgs.Spec) bool {
	for _, s := range specs {
		if in := st[s.Name]; !in.OK() || in.Version != s.Version {
			return false
		}
	}
	return true
}

// describeState is "a 1.1, b 1.1 (half-configured)", for messages.
func describeState(st map[string]pkgs.Installed, names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " " + st[n].Describe()
	}
	return strings.Join(parts, ", ")
}

// versionsRecord is the exact versions of names: name=version, empty for
// a package not installed (or left half-configured: nothing to go back to).
func versionsRecord(st map[string]pkgs.Installed, names []string) record {
	r := record{}
	for _, n := range names {
		if in := st[n]; in.OK() {
			r[n] = in.Version
		} else {
			r[n] = ""
		}
	}
	return r
}

// specsFromRecord turns recorded versions back into what to install, and
// the packages that were not installed (which a rollback leaves alone).
func specsFromRecord(r record, names []string) (specs []pkgs.Spec, absent []string) {
	for _, n := range names {
		if v := r[n]; v != "" {
			specs = append(specs, pkgs.Spec{Name: n, Version: v})
		} else {
			absent = append(absent, n)
		}
	}
	return specs, absent
}

func specList(specs []pkgs.Spec) string {
	s := make([]string, len(specs))
	for i, x := range specs {
		s[i] = x.String()
	}
	return strings.Join(s, " ")
}

// install installs specs; when dpkg says an earlier run was interrupted
// (a crash, a step cut short), it finishes that run and tries once more.
func (a *action) install(ctx context.Context, m pkgs.Manager, specs []pkgs.Spec, downgrade bool) error {
	_, err := a.h.run(ctx, m.Install(specs, downgrade), nil)
	var ee *remote.ExitError
	if err != nil && errors.As(err, &ee) && m.Interrupted(ee.Result.Stdout+ee.Result.Stderr) {
		a.progress("an earlier package run was interrupted: finishing it first ("+m.Repair()+")", -1)
		_, _ = a.h.run(ctx, m.Repair(), nil) // its failure shows in the retry
		_, err = a.h.run(ctx, m.Install(specs, downgrade), nil)
	}
	if err != nil {
		return fmt.Errorf("install %s: %w", specList(specs), err)
	}
	return nil
}

// runCommands runs the operator's commands in order; the first failure
// stops them.
func (a *action) runCommands(ctx context.Context, what string, cmds []string) error {
	for i, c := range cmds {
		a.progress(fmt.Sprintf("%s %d/%d: %s", what, i+1, len(cmds), c), -1)
		if _, err := a.h.run(ctx, c, nil); err != nil {
			return fmt.Errorf("%s %d (%s): %w", what, i+1, c, err)
		}
	}
	return nil
}

// rebootRequiredCommand prints yes when a package asked for a reboot:
// Debian's /run/reboot-required, or dnf's needs-restarting -r.
const rebootRequiredCommand = `if [ -e /run/reboot-required ]; then echo yes; elif command -v needs-restarting >/dev/null 2>&1 && ! needs-restarting -r >/dev/null 2>&1; then echo yes; else echo no; fi`

func (a *action) rebootRequired(ctx context.Context) (bool, error) {
	out, err := a.h.output(ctx, rebootRequiredCommand)
	if err != nil {
		return false, fmt.Errorf("check whether a reboot is required: %w", err)
	}
	return strings.TrimSpace(out) == "yes", nil
}

// afterInstall restarts the services and reboots as the settings say, once
// per step: rec (saved at recPath) remembers the reboot, and the boot id
// tells whether one already happened since the install.
func (a *action) afterInstall(ctx context.Context, s Settings, rec record, recPath string) error {
	if s.RestartServices && len(s.Services) > 0 {
		a.progress("restarting "+strings.Join(s.Services, ", "), 0.6)
		if err := a.h.restart(ctx, s.Services); err != nil {
			return err
		}
	}
	if s.Reboot == RebootNever || rec["rebooted"] != "" {
		return nil
	}
	boot, err := a.h.bootID(ctx)
	if err != nil {
		return err
	}
	if boot != rec["installed"] {
		// The host rebooted since the packages changed (an attempt cut
		// short during the reboot): that was the reboot.
		rec["rebooted"] = boot
		return a.h.saveRecord(ctx, recPath, rec)
	}
	if s.Reboot == RebootIfRequired {
		need, err := a.rebootRequired(ctx)
		if err != nil {
			return err
		}
		if !need {
			return nil
		}
	}
	a.progress("rebooting "+a.h.hc.Name, 0.7)
	newBoot, err := a.h.reboot(ctx, boot, s.Services, func(m string) { a.progress(m, 0.7) })
	if err != nil {
		return err
	}
	a.progress(fmt.Sprintf("%s is back (boot id %s)", a.h.hc.Name, newBoot), 0.85)
	rec["rebooted"] = newBoot
	return a.h.saveRecord(ctx, recPath, rec)
}

// upgrade installs every package of the component at the target version:
// pre commands, the recorded versions for a rollback, apt-get update and
// install, service restarts, the reboot, post commands. A step sent again
// carries on from its record; an upgrade that finds the target installed
// and nothing of its own left to do succeeds at once.
func (a *action) upgrade(ctx context.Context) error {
	names, err := a.packages()
	if err != nil {
		return err
	}
	s, ok := a.settings()
	if !ok {
		return nil
	}
	target := a.req.ToVersion
	if err := pkgs.CheckVersion(target); err != nil {
		return fmt.Errorf("target version of %s: %w", a.req.Component, err)
	}
	m, err := a.h.manager(ctx)
	if err != nil {
		return err
	}
	specs := specsAt(names, target)
	recPath := a.stepPath()
	rec, err := a.h.readRecord(ctx, recPath)
	if err != nil {
		return err
	}
	st, err := a.h.query(ctx, m, names)
	if err != nil {
		return err
	}
	at := atVersions(st, specs)
	if at && (len(rec) == 0 || rec["done"] != "") {
		a.progress(fmt.Sprintf("%s is already at %s on %s", a.req.Component, target, a.h.hc.Name), 1)
		a.resp.Outputs = map[string]string{"version": target}
		return nil
	}
	if len(rec) == 0 {
		if cur := componentVersion(names, st); cur != a.req.FromVersion {
			return fmt.Errorf("%s on %s is at %q (%s), not %q as planned: the host changed since the plan was made; plan again",
				a.req.Component, a.h.hc.Name, cur, describeState(st, names), a.req.FromVersion)
		}
	}
	if err := a.beforeChange(ctx); err != nil {
		return err
	}
	if !at {
		if rec["pre"] == "" {
			if err := a.runCommands(ctx, "pre command", s.Pre); err != nil {
				return err
			}
			rec["pre"] = "done"
			if err := a.h.saveRecord(ctx, recPath, rec); err != nil {
				return err
			}
		}
		// The versions a rollback returns to: those found by the
		// run's first attempt, before anything changed.
		if prev, err := a.h.readFile(ctx, a.beforePath()); err != nil {
			return err
		} else if prev == "" {
			if err := a.h.writeFile(ctx, a.beforePath(), versionsRecord(st, names).String()); err != nil {
				return err
			}
		}
		if s.UpdateLists {
			if r := m.Refresh(); r != "" {
				a.progress("refreshing the package lists", 0.1)
				if _, err := a.h.run(ctx, r, nil); err != nil {
					return fmt.Errorf("refresh the package lists on %s: %w", a.h.hc.Name, err)
				}
			}
		}
		a.progress("installing "+specList(specs), 0.2)
		if err := a.install(ctx, m, specs, false); err != nil {
			now, qerr := a.h.query(ctx, m, names)
			if qerr == nil {
				err = fmt.Errorf("%w\nThe packages are now: %s. Roll the host back (on_failure rollback_host does it) or fix the cause and apply again", err, describeState(now, names))
			}
			return err
		}
	}
	if rec["installed"] == "" {
		boot, err := a.h.bootID(ctx)
		if err != nil {
			return err
		}
		rec["installed"] = boot
		if err := a.h.saveRecord(ctx, recPath, rec); err != nil {
			return err
		}
	}
	if err := a.afterInstall(ctx, s, rec, recPath); err != nil {
		return err
	}
	if rec["post"] == "" {
		if err := a.runCommands(ctx, "post command", s.Post); err != nil {
			return err
		}
		rec["post"] = "done"
	}
	st, err = a.h.query(ctx, m, names)
	if err != nil {
		return err
	}
	if !atVersions(st, specs) {
		return fmt.Errorf("after installing %s on %s the packages are %s: something else changed them; check the host's package log", specList(specs), a.h.hc.Name, describeState(st, names))
	}
	rec["done"] = "1"
	if err := a.h.saveRecord(ctx, recPath, rec); err != nil {
		return err
	}
	// Records of steps and runs long gone: best effort, they are small.
	_, _ = a.h.run(ctx, "find "+remote.Quote(a.componentDir())+" -type f -mtime +"+recordMaxAgeDays+" -delete 2>/dev/null", nil)
	a.progress(fmt.Sprintf("%s is at %s on %s", a.req.Component, target, a.h.hc.Name), 1)
	a.resp.Outputs = map[string]string{"version": target}
	return nil
}

// rollback reinstalls the versions the run's upgrade recorded (or, with no
// record, every package at the version the plan started from), allowing
// downgrades, then restarts and reboots as an upgrade would. Packages that
// were not installed before are left installed, with a warning.
func (a *action) rollback(ctx context.Context) error {
	names, err := a.packages()
	if err != nil {
		return err
	}
	s, ok := a.settings()
	if !ok {
		return nil
	}
	m, err := a.h.manager(ctx)
	if err != nil {
		return err
	}
	before, err := a.h.readRecord(ctx, a.beforePath())
	if err != nil {
		return err
	}
	from := "the versions recorded before the upgrade"
	if len(before) == 0 {
		if a.req.FromVersion == "" {
			a.resp.Diagnostics.AddWarning("Nothing to roll back to",
				fmt.Sprintf("%s was not installed on %s before this run; hostos does not remove packages: remove %s by hand if it must go.", a.req.Component, a.h.hc.Name, strings.Join(names, ", ")))
			return nil
		}
		if err := pkgs.CheckVersion(a.req.FromVersion); err != nil {
			return fmt.Errorf("no versions were recorded on %s for %s in this run, and the plan's version %q can't be reinstalled (%v): restore from a backup, or repair the host by hand", a.h.hc.Name, a.req.Component, a.req.FromVersion, err)
		}
		before = record{}
		for _, n := range names {
			before[n] = a.req.FromVersion
		}
		from = "the plan's version " + a.req.FromVersion
	}
	return a.applyVersions(ctx, m, s, before, names, from)
}

// applyVersions installs recorded versions (allowing downgrades) unless
// they are installed already, then restarts and reboots as the settings
// say, recording its progress under the step.
func (a *action) applyVersions(ctx context.Context, m pkgs.Manager, s Settings, versions record, names []string, from string) error {
	specs, absent := specsFromRecord(versions, names)
	if len(absent) > 0 {
		a.resp.Diagnostics.AddWarning("Packages left installed",
			fmt.Sprintf("%s were not installed on %s at the time of %s; hostos does not remove packages: remove them by hand if they must go.", strings.Join(absent, ", "), a.h.hc.Name, from))
	}
	recPath := a.stepPath()
	rec, err := a.h.readRecord(ctx, recPath)
	if err != nil {
		return err
	}
	st, err := a.h.query(ctx, m, names)
	if err != nil {
		return err
	}
	at := atVersions(st, specs)
	if at && len(rec) == 0 {
		a.progress(fmt.Sprintf("%s on %s is already at %s", a.req.Component, a.h.hc.Name, specList(specs)), 1)
		return nil
	}
	if err := a.beforeChange(ctx); err != nil {
		return err
	}
	if !at {
		a.progress("installing "+specList(specs)+" (back to "+from+")", 0.2)
		if err := a.install(ctx, m, specs, true); err != nil {
			return err
		}
		boot, err := a.h.bootID(ctx)
		if err != nil {
			return err
		}
		rec = record{"installed": boot}
		if err := a.h.saveRecord(ctx, recPath, rec); err != nil {
			return err
		}
	}
	if err := a.afterInstall(ctx, s, rec, recPath); err != nil {
		return err
	}
	st, err = a.h.query(ctx, m, names)
	if err != nil {
		return err
	}
	if !atVersions(st, specs) {
		return fmt.Errorf("after installing %s on %s the packages are %s", specList(specs), a.h.hc.Name, describeState(st, names))
	}
	a.progress(fmt.Sprintf("%s on %s is back at %s", a.req.Component, a.h.hc.Name, specList(specs)), 1)
	return nil
}

// verify checks the packages are at the version planned and fully
// installed, the services active and the verify commands happy.
func (a *action) verify(ctx context.Context) error {
	names, err := a.packages()
	if err != nil {
		return err
	}
	s, ok := a.settings()
	if !ok {
		return nil
	}
	m, err := a.h.manager(ctx)
	if err != nil {
		return err
	}
	st, err := a.h.query(ctx, m, names)
	if err != nil {
		return err
	}
	var problems []string
	for _, n := range names {
		in := st[n]
		switch {
		case !in.OK():
			problems = append(problems, fmt.Sprintf("%s is %s", n, in.Describe()))
		case a.req.ToVersion != "" && in.Version != a.req.ToVersion:
			problems = append(problems, fmt.Sprintf("%s is at %s, not %s", n, in.Version, a.req.ToVersion))
		}
	}
	bad, err := a.h.inactive(ctx, s.Services)
	if err != nil {
		return err
	}
	for _, b := range bad {
		problems = append(problems, "service "+b+" is not active")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s on %s: %s", a.req.Component, a.h.hc.Name, strings.Join(problems, "; "))
	}
	if err := a.runCommands(ctx, "verify command", s.Verify); err != nil {
		return err
	}
	if a.p.ext != nil {
		if err := a.p.ext.Verify(ctx, shell{a.h}, a.req); err != nil {
			return err
		}
	}
	if s.Reboot == RebootNever {
		if need, err := a.rebootRequired(ctx); err == nil && need {
			a.resp.Diagnostics.AddWarning("Reboot required",
				fmt.Sprintf("%s asks for a reboot (/run/reboot-required) and %s has reboot = \"never\": the new version may not be fully in use until the host reboots.", a.h.hc.Name, a.req.Component))
		}
	}
	a.resp.Outputs = map[string]string{"version": componentVersion(names, st)}
	return nil
}

// probe checks the host: SSH answers, services active, commands exit 0.
func (a *action) probe(ctx context.Context) error {
	ps, diags := DecodeProbeSettings(settingsOrNull(a.req.Settings))
	a.resp.Diagnostics = append(a.resp.Diagnostics, diags...)
	if diags.HasErrors() {
		return nil
	}
	boot, err := a.h.bootID(ctx)
	if err != nil {
		return err
	}
	bad, err := a.h.inactive(ctx, ps.Services)
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("on %s, services not active: %s", a.h.hc.Name, strings.Join(bad, ", "))
	}
	if err := a.runCommands(ctx, "probe command", ps.Commands); err != nil {
		return err
	}
	a.resp.Outputs = map[string]string{"boot_id": boot}
	return nil
}
