package openstack

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Ports are the loopback TCP ports of the environment, all consecutive
// from a base so that a human can tell them apart: base+0 MariaDB, +1 AMQP,
// +2 epmd, +3 Erlang distribution, +4 Keystone, +5 Placement, +6 Nova API,
// +7 Glance, +8 Neutron.
type Ports struct {
	MariaDB   int `json:"mariadb"`
	AMQP      int `json:"amqp"`
	EPMD      int `json:"epmd"`
	ErlDist   int `json:"erl_dist"`
	Keystone  int `json:"keystone"`
	Placement int `json:"placement"`
	NovaAPI   int `json:"nova_api"`
	Glance    int `json:"glance"`
	Neutron   int `json:"neutron"`
}

const portCount = 9

// DefaultBasePort is where the search for a free block of ports starts:
// away from every OpenStack default (5000, 8774, 8778, 9292, 9696, 3306,
// 5672, 4369) and below the kernel's ephemeral range.
const DefaultBasePort = 17100

func portsFrom(base int) Ports {
	return Ports{
		MariaDB: base, AMQP: base + 1, EPMD: base + 2, ErlDist: base + 3,
		Keystone: base + 4, Placement: base + 5, NovaAPI: base + 6, Glance: base + 7, Neutron: base + 8,
	}
}

func (p Ports) list() []int {
	return []int{p.MariaDB, p.AMQP, p.EPMD, p.ErlDist, p.Keystone, p.Placement, p.NovaAPI, p.Glance, p.Neutron}
}

// choosePorts returns the block at base when base is set (failing if a port
// is taken), else the first free block of 20 ports from DefaultBasePort, so
// that two environments (or a leftover one) never collide. The block is
// claimed for dir: most of its ports are bound only seconds into the
// start-up, and two environments starting at once (two test packages) must
// not both pick it.
func choosePorts(base int, dir string) (Ports, error) {
	unlock, err := lockClaims()
	if err != nil {
		return Ports{}, err
	}
	defer unlock()
	if base != 0 {
		if base < 1024 || base+portCount > 65535 {
			return Ports{}, fmt.Errorf("base port %d: want 1024..%d", base, 65535-portCount)
		}
		p := portsFrom(base)
		if busy := busyPort(p.list()); busy != 0 {
			return Ports{}, fmt.Errorf("port %d on 127.0.0.1 is in use: choose another base port or stop what holds it", busy)
		}
		if holder, ok := claimBlock(base, dir); !ok {
			return Ports{}, fmt.Errorf("ports %d-%d are claimed by the environment in %s: choose another base port or stop it", base, base+portCount-1, holder)
		}
		return p, nil
	}
	for b := DefaultBasePort; b+portCount < 32000; b += 20 {
		p := portsFrom(b)
		if busyPort(p.list()) != 0 {
			continue
		}
		if _, ok := claimBlock(b, dir); ok {
			return p, nil
		}
	}
	return Ports{}, fmt.Errorf("no free block of %d ports on 127.0.0.1 from %d to 32000", portCount, DefaultBasePort)
}

// claimDir holds one file per claimed block, naming the state directory.
var claimDir = filepath.Join(os.TempDir(), "escalator-osenv-ports")

func claimPath(base int) string { return filepath.Join(claimDir, strconv.Itoa(base)) }

// lockClaims serializes port choices between processes.
func lockClaims() (func(), error) {
	if err := os.MkdirAll(claimDir, 0o777); err != nil {
		return nil, fmt.Errorf("port claims: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(claimDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("port claims: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("port claims: %w", err)
	}
	return func() { f.Close() }, nil
}

// claimBlock claims the block at base for dir unless another environment
// holds it: one whose daemons run, or whose start began less than
// claimFresh ago. It returns the holder when it fails.
func claimBlock(base int, dir string) (string, bool) {
	path := claimPath(base)
	if b, err := os.ReadFile(path); err == nil {
		holder := string(b)
		if holder != dir && claimLive(holder, path) {
			return holder, false
		}
	}
	if err := os.WriteFile(path, []byte(dir), 0o644); err != nil {
		return "", false
	}
	return dir, true
}

const claimFresh = 10 * time.Minute

func claimLive(holder, path string) bool {
	if st, err := os.Stat(path); err == nil && time.Since(st.ModTime()) < claimFresh {
		return true
	}
	env, err := Load(holder)
	return err == nil && len(env.runningDaemons()) > 0
}

// releasePorts drops the environment's claim, if it still holds it.
func (e *Env) releasePorts() {
	path := claimPath(e.Ports.MariaDB)
	if b, err := os.ReadFile(path); err == nil && string(b) == e.Dir {
		os.Remove(path)
	}
}

// busyPort returns the first port of ports that cannot be bound on
// 127.0.0.1, or 0.
func busyPort(ports []int) int {
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return p
		}
		l.Close()
	}
	return 0
}
