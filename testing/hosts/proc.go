package hosts

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func readPid(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q is not a PID", path, data)
	}
	return pid, nil
}

// procStartTime returns the start time of pid in clock ticks since boot
// (field 22 of /proc/PID/stat), which tells a process from a later one
// that reuses its PID. A zombie counts as gone.
func procStartTime(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after its last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, fmt.Errorf("process %d has exited", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// uptime returns the machine's uptime in seconds (CLOCK_BOOTTIME).
func uptime() float64 {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// nsInode returns the namespace of kind ("net", "pid") that pid is in, as
// "net:[4026532281]".
func nsInode(pid int, kind string) string {
	s, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + kind)
	if err != nil {
		return ""
	}
	return s
}

// allPids lists the processes of the machine.
func allPids() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// Memory is what the processes of one host use.
type Memory struct {
	Procs int
	RSS   uint64 // bytes, summed over the host's processes (shared pages counted in each)
	PSS   uint64 // bytes, proportional set size: shared pages split among their users
	// PSSByCommand splits PSS by command name (comm): "sshd", "libvirtd",
	// "qemu-system-x86" …
	PSSByCommand map[string]uint64
}

// Memory measures host i: every process in its PID namespace (init, sshd,
// sessions, libvirtd, QEMU …).
func (e *Env) Memory(i int) (Memory, error) {
	h, err := e.host(i)
	if err != nil {
		return Memory{}, err
	}
	h.mu.Lock()
	pid := h.initPID
	h.mu.Unlock()
	if pid == 0 {
		return Memory{}, fmt.Errorf("hosts: memory of %s: the host is not running", h.Name)
	}
	ns := nsInode(pid, "pid")
	if ns == "" {
		return Memory{}, fmt.Errorf("hosts: memory of %s: its init (PID %d) is gone", h.Name, pid)
	}
	m := Memory{PSSByCommand: map[string]uint64{}}
	for _, p := range allPids() {
		if nsInode(p, "pid") != ns {
			continue
		}
		rss, pss, ok := procMemory(p)
		if !ok {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/comm")
		m.Procs++
		m.RSS += rss
		m.PSS += pss
		m.PSSByCommand[strings.TrimSpace(string(comm))] += pss
	}
	return m, nil
}

// procMemory reads the Rss and Pss lines of /proc/PID/smaps_rollup (kB).
func procMemory(pid int) (rss, pss uint64, ok bool) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, found := strings.Cut(sc.Text(), ":")
		if !found {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "Rss":
			rss, ok = n*1024, true
		case "Pss":
			pss = n * 1024
		}
	}
	return rss, pss, ok
}
