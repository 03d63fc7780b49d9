package hosts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cleanup removes everything an environment with this prefix left on the
// machine — after a crash, a kill -9 of the test, or a failed Stop: the
// processes of its hosts, their overlay mounts, its network namespaces,
// veth pairs and bridge. It finds them by name, so it needs neither the
// crashed run's directory nor its memory. Start calls it first; it is safe
// while no live environment uses the prefix (Start's lock guarantees that
// for environments made by this package).
func Cleanup(ctx context.Context, prefix string) error {
	if !prefixRE.MatchString(prefix) {
		return fmt.Errorf("hosts: cleanup: prefix %q is not one Options.Prefix allows", prefix)
	}
	var errs []error
	l := find(prefix, nil)
	if err := killAll(ctx, l.pids); err != nil {
		errs = append(errs, err)
	}
	for i := len(l.mounts) - 1; i >= 0; i-- {
		if err := unmount(ctx, l.mounts[i]); err != nil {
			errs = append(errs, err)
		}
	}
	// The machine's ends of the veth pairs and the bridge go first: that
	// removes each pair at once, where deleting a namespace removes its
	// pairs later, in the kernel's own time.
	ls, err := links(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	sort.SliceStable(ls, func(i, j int) bool { return ls[i] != prefix+"-br" && ls[j] == prefix+"-br" })
	for _, name := range ls {
		if !strings.HasPrefix(name, prefix+"-") {
			continue
		}
		if err := ip(ctx, "link", "del", name); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err)
		}
	}
	for _, ns := range l.netns {
		if err := ip(ctx, "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// leftovers is what find found of an environment.
type leftovers struct {
	pids   []int
	procs  []string // "PID (comm)"
	mounts []string // parents first
	netns  []string
}

// find looks for the processes, mounts and namespaces of prefix: processes
// in its network namespaces (named, or known by their inode in extraNetns)
// or with their root or working directory on one of its overlays.
func find(prefix string, extraNetns []string) leftovers {
	var l leftovers
	nsIDs := map[string]bool{}
	for _, id := range extraNetns {
		nsIDs[id] = true
	}
	for _, name := range netnsNames() {
		if !strings.HasPrefix(name, prefix+"-") {
			continue
		}
		l.netns = append(l.netns, name)
		var st syscall.Stat_t
		if syscall.Stat("/run/netns/"+name, &st) == nil {
			nsIDs["net:["+strconv.FormatUint(st.Ino, 10)+"]"] = true
		}
	}
	var roots []string
	if mounts, err := readMounts(); err == nil {
		for _, m := range mounts {
			if m.FSType == "overlay" && strings.HasPrefix(m.Source, prefix+"-") {
				roots = append(roots, m.Point)
			}
		}
		for _, m := range mounts {
			for _, r := range roots {
				if m.Point == r || strings.HasPrefix(m.Point, r+"/") {
					l.mounts = append(l.mounts, m.Point)
					break
				}
			}
		}
	}
	self := os.Getpid()
	for _, pid := range allPids() {
		if pid == self {
			continue
		}
		hit := nsIDs[nsInode(pid, "net")]
		if !hit {
			for _, link := range []string{"root", "cwd"} {
				p, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/" + link)
				if err != nil {
					continue
				}
				for _, r := range roots {
					if p == r || strings.HasPrefix(p, r+"/") {
						hit = true
					}
				}
			}
		}
		if hit {
			if _, err := procStartTime(pid); err != nil {
				continue // a zombie: gone for every purpose here
			}
			comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
			l.pids = append(l.pids, pid)
			l.procs = append(l.procs, fmt.Sprintf("%d (%s)", pid, strings.TrimSpace(string(comm))))
		}
	}
	return l
}

// killAll sends SIGKILL to pids and waits until they are gone.
func killAll(ctx context.Context, pids []int) error {
	if len(pids) == 0 {
		return nil
	}
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var alive []string
		for _, p := range pids {
			if _, err := procStartTime(p); err == nil {
				alive = append(alive, strconv.Itoa(p))
			}
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("processes still running after SIGKILL: %s", strings.Join(alive, ", "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// unmount unmounts point, retrying for a moment while it is busy (a process
// that just died may still hold it), then detaching it.
func unmount(ctx context.Context, point string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := syscall.Unmount(point, 0)
		if err == nil || err == syscall.EINVAL || err == syscall.ENOENT {
			return nil
		}
		if err != syscall.EBUSY {
			return fmt.Errorf("unmount %s: %w", point, err)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if derr := syscall.Unmount(point, syscall.MNT_DETACH); derr != nil {
				return fmt.Errorf("unmount %s: %w", point, derr)
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Leftovers lists what of this environment is still on the machine:
// processes of its hosts, its mounts, namespaces and links. After Stop it
// is empty; Stop checks that.
func (e *Env) Leftovers() []string {
	var ids []string
	for _, h := range e.hosts {
		if h.netnsID != "" {
			ids = append(ids, h.netnsID)
		}
	}
	l := find(e.Prefix, ids)
	var out []string
	if len(l.procs) > 0 {
		out = append(out, "processes "+strings.Join(l.procs, ", "))
	}
	if len(l.mounts) > 0 {
		out = append(out, "mounts "+strings.Join(l.mounts, ", "))
	}
	if len(l.netns) > 0 {
		out = append(out, "network namespaces "+strings.Join(l.netns, ", "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ls, err := links(ctx); err == nil {
		var mine []string
		for _, n := range ls {
			if strings.HasPrefix(n, e.Prefix+"-") {
				mine = append(mine, n)
			}
		}
		sort.Strings(mine)
		if len(mine) > 0 {
			out = append(out, "links "+strings.Join(mine, ", "))
		}
	}
	return out
}
