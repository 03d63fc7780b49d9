package hosts

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ip runs the ip(8) command; the error carries its output.
func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytesTail(out, 300))
	}
	return nil
}

// checkSubnetFree refuses a subnet that an interface of the machine already
// has an address in: routes would clash, and tests must reach only the
// namespaces they made.
func checkSubnetFree(ctx context.Context, subnet netip.Prefix) error {
	out, err := exec.CommandContext(ctx, "ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		return fmt.Errorf("hosts: list addresses: %w (is iproute2 installed? run testing/hosts/install.sh)", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		// "4: eth0    inet 192.0.2.2/24 brd … scope global eth0"
		for j := 0; j+1 < len(f); j++ {
			if f[j] != "inet" {
				continue
			}
			p, err := netip.ParsePrefix(f[j+1])
			if err != nil {
				continue
			}
			if p.Overlaps(subnet) {
				return fmt.Errorf("hosts: subnet %s overlaps %s on interface %s of this machine: choose another Options.Subnet",
					subnet, p, strings.TrimSuffix(f[1], ":"))
			}
		}
	}
	return nil
}

// setupBridge creates the bridge and gives the root namespace the first
// address of the subnet on it. Nothing routes or forwards beyond it.
func (e *Env) setupBridge(ctx context.Context) error {
	addr := netip.PrefixFrom(e.BridgeAddr, e.Subnet.Bits()).String()
	for _, args := range [][]string{
		{"link", "add", e.Bridge, "type", "bridge"},
		{"addr", "add", addr, "dev", e.Bridge},
		{"link", "set", e.Bridge, "up"},
	} {
		if err := ip(ctx, args...); err != nil {
			return fmt.Errorf("hosts: bridge: %w", err)
		}
	}
	disableIPv6(e.Bridge)
	return nil
}

// setupHostNet creates the host's namespace and veth pair: eth0 inside with
// the host's address, no default route; the other end on the bridge.
func (e *Env) setupHostNet(ctx context.Context, h *host) error {
	addr := netip.PrefixFrom(h.Addr, e.Subnet.Bits()).String()
	for _, args := range [][]string{
		{"netns", "add", h.Netns},
		{"link", "add", h.Link, "type", "veth", "peer", "name", "eth0", "netns", h.Netns},
		{"link", "set", h.Link, "master", e.Bridge},
		{"link", "set", h.Link, "up"},
		{"-n", h.Netns, "addr", "add", addr, "dev", "eth0"},
		{"-n", h.Netns, "link", "set", "lo", "up"},
		{"-n", h.Netns, "link", "set", "eth0", "up"},
	} {
		if err := ip(ctx, args...); err != nil {
			return fmt.Errorf("hosts: network of %s: %w", h.Name, err)
		}
	}
	disableIPv6(h.Link)
	var st syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+h.Netns, &st); err == nil {
		h.netnsID = "net:[" + strconv.FormatUint(st.Ino, 10) + "]"
	}
	return nil
}

// setLink plugs the host's cable in or out (the machine's end of its veth
// pair): while it is out, the host's address does not answer at all.
func (e *Env) setLink(h *host, up bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	state := "down"
	if up {
		state = "up"
	}
	return ip(ctx, "link", "set", h.Link, state)
}

// disableIPv6 keeps the root namespace's ends quiet: no link-local address,
// no router solicitations. Best effort: a kernel without IPv6 has no file.
func disableIPv6(link string) {
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+link+"/disable_ipv6", []byte("1\n"), 0o644)
}

// links returns the names of the root namespace's interfaces.
func links(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ip", "-o", "link", "show").Output()
	if err != nil {
		return nil, fmt.Errorf("ip link show: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		// "12: escht-v1@if2: <BROADCAST,…"
		f := strings.SplitN(line, ":", 3)
		if len(f) < 3 {
			continue
		}
		if _, err := strconv.Atoi(strings.TrimSpace(f[0])); err != nil {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSpace(f[1]), "@")
		names = append(names, name)
	}
	return names, nil
}

// netnsNames returns the named network namespaces (ip netns list).
func netnsNames() []string {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
