package hostos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/escalator-nfv/escalator/plugins/hostos/remote"
)

// Backups live on the host, one directory each:
//
//	<state_dir>/backups/<component>/<backup id>/
//	    versions        name=version of each package (empty: not installed)
//	    paths           the archived paths, relative to /
//	    config.tar.gz   those paths (absent when none existed)
//	    created         UTC time, written last: the backup is complete
//
// The backup id is derived from the step id, so the same step sent again
// finds its backup rather than taking another.

var backupIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// backupID names the backup a step takes: the run id and a hash of the
// step id.
func backupID(stepID string) string {
	sum := sha256.Sum256([]byte(stepID))
	return runID(stepID) + "-" + hex.EncodeToString(sum[:4])
}

func (a *action) backupDir(id string) string {
	return a.cfg.StateDir + "/backups/" + a.req.Component + "/" + id
}

// backupScript takes the backup from its versions on stdin, then deletes
// the component's oldest backups beyond retain. It prints "missing PATH"
// for each path the host does not have and "size KB" at the end.
func backupScript(dir string, paths []string, retain int) string {
	d := remote.Quote(dir)
	var b strings.Builder
	b.WriteString("set -e; umask 077; d=" + d + "; t=\"$d.tmp\"; rm -rf \"$t\"; mkdir -p \"$t\"; cat >\"$t/versions\"; : >\"$t/paths\"; ")
	if len(paths) > 0 {
		b.WriteString("for p in " + remote.QuoteAll(paths...) + "; do if [ -e \"$p\" ] || [ -L \"$p\" ]; then printf '%s\\n' \"${p#/}\" >>\"$t/paths\"; else echo \"missing $p\"; fi; done; ")
		b.WriteString("if [ -s \"$t/paths\" ]; then tar -czpf \"$t/config.tar.gz\" -C / -T \"$t/paths\"; fi; ")
	}
	b.WriteString("date -u +%Y-%m-%dT%H:%M:%SZ >\"$t/created\"; rm -rf \"$d\"; mv \"$t\" \"$d\"; ")
	b.WriteString("parent=$(dirname \"$d\"); ls -1t \"$parent\" | grep -v '\\.tmp$' | tail -n +" + strconv.Itoa(retain+1) + " | while read -r old; do rm -rf \"$parent/$old\"; done; ")
	b.WriteString("echo \"size $(du -sk \"$d\" | cut -f1)\"")
	return b.String()
}

// backup records the component's exact package versions and archives the
// backup's paths, on the host. Its output backup_id is what a restore
// takes back.
func (a *action) backup(ctx context.Context) error {
	names, err := a.packages()
	if err != nil {
		return err
	}
	bs, diags := DecodeBackupSettings(settingsOrNull(a.req.Settings))
	a.resp.Diagnostics = append(a.resp.Diagnostics, diags...)
	if diags.HasErrors() {
		return nil
	}
	id := backupID(a.req.ID)
	dir := a.backupDir(id)
	if created, err := a.h.readFile(ctx, dir+"/created"); err != nil {
		return err
	} else if created != "" {
		versions, err := a.h.readFile(ctx, dir+"/versions")
		if err != nil {
			return err
		}
		a.progress(fmt.Sprintf("backup %s was taken already (%s)", id, strings.TrimSpace(created)), 1)
		a.resp.Outputs = backupOutputs(id, dir, parseRecord(versions), names)
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
	versions := versionsRecord(st, names)
	a.progress(fmt.Sprintf("backing up %s (%s) to %s:%s", a.req.Component, describeState(st, names), a.h.hc.Name, dir), 0.2)
	r, err := a.h.run(ctx, backupScript(dir, bs.Paths, bs.Retain), []byte(versions.String()))
	if err != nil {
		return fmt.Errorf("back up %s on %s: %w", a.req.Component, a.h.hc.Name, err)
	}
	var missing []string
	for _, line := range strings.Split(r.Stdout, "\n") {
		if p, ok := strings.CutPrefix(line, "missing "); ok {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		a.resp.Diagnostics.AddWarning("Backup paths missing",
			fmt.Sprintf("%s has no %s: the backup %s of %s does not contain them.", a.h.hc.Name, strings.Join(missing, ", "), id, a.req.Component))
	}
	a.resp.Outputs = backupOutputs(id, dir, versions, names)
	a.progress(fmt.Sprintf("backup %s taken", id), 1)
	return nil
}

func backupOutputs(id, dir string, versions record, names []string) map[string]string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + versions[n]
	}
	return map[string]string{"backup_id": id, "location": dir, "versions": strings.Join(parts, ",")}
}

// restore puts back the backup's package versions (allowing downgrades),
// then its configuration files over the current ones (files created since
// are kept), then restarts the services (and reboots) as the settings say.
func (a *action) restore(ctx context.Context) error {
	names, err := a.packages()
	if err != nil {
		return err
	}
	s, ok := a.settings()
	if !ok {
		return nil
	}
	id := a.req.BackupID
	if !backupIDRE.MatchString(id) {
		return fmt.Errorf("%q is not a hostos backup id (one comes from a backup step's output backup_id)", id)
	}
	dir := a.backupDir(id)
	created, err := a.h.readFile(ctx, dir+"/created")
	if err != nil {
		return err
	}
	if created == "" {
		return fmt.Errorf("no complete backup %s of %s on %s (looked in %s): it was deleted (retain) or the host was reinstalled. Roll back instead, or restore by hand", id, a.req.Component, a.h.hc.Name, dir)
	}
	versions, err := a.h.readRecord(ctx, dir+"/versions")
	if err != nil {
		return err
	}
	m, err := a.h.manager(ctx)
	if err != nil {
		return err
	}
	// Packages first: a downgrade keeps the current configuration files
	// (--force-confold), which the archive then replaces.
	noRestart := s
	noRestart.RestartServices = false
	noRestart.Reboot = RebootNever
	if err := a.applyVersions(ctx, m, noRestart, versions, names, "backup "+id); err != nil {
		return err
	}
	a.progress("restoring the configuration of backup "+id, 0.5)
	tarball := remote.Quote(dir + "/config.tar.gz")
	if _, err := a.h.run(ctx, "if [ -e "+tarball+" ]; then tar -xzpf "+tarball+" -C /; fi", nil); err != nil {
		return fmt.Errorf("restore the configuration of backup %s on %s: %w", id, a.h.hc.Name, err)
	}
	rec, err := a.h.readRecord(ctx, a.stepPath())
	if err != nil {
		return err
	}
	if rec["installed"] == "" {
		boot, err := a.h.bootID(ctx)
		if err != nil {
			return err
		}
		rec["installed"] = boot
	}
	if err := a.afterInstall(ctx, s, rec, a.stepPath()); err != nil {
		return err
	}
	a.resp.Outputs = backupOutputs(id, dir, versions, names)
	a.progress(fmt.Sprintf("%s on %s restored from backup %s (taken %s)", a.req.Component, a.h.hc.Name, id, strings.TrimSpace(created)), 1)
	return nil
}
