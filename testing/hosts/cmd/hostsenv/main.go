// Command hostsenv starts the real hosts test environment by hand, builds
// its image, or removes what a crashed run left.
//
//	hostsenv up [-dir DIR] [-hosts 4] [-libvirt] [-prefix escht] [-subnet 10.77.0.0/24]
//	hostsenv image [-cache DIR]
//	hostsenv cleanup [-prefix escht]
//
// "up" runs in the foreground until Ctrl-C (or SIGTERM), then stops every
// host: a host that reboots is booted again by this process.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/escalator-nfv/escalator/testing/hosts"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = up(os.Args[2:])
	case "image":
		err = image(os.Args[2:])
	case "cleanup":
		err = cleanup(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostsenv:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: hostsenv up|image|cleanup [flags] (hostsenv CMD -h lists the flags)")
	os.Exit(2)
}

func up(args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	dir := fs.String("dir", "/tmp/escalator-hosts", "directory of the environment (upper dirs, logs, keys, repository)")
	n := fs.Int("hosts", hosts.DefaultHosts, "number of hosts")
	libvirt := fs.Bool("libvirt", false, "start libvirtd in every host")
	prefix := fs.String("prefix", hosts.DefaultPrefix, "prefix of the namespaces, links and mounts")
	subnet := fs.String("subnet", hosts.DefaultSubnet.String(), "the hosts' IPv4 subnet")
	cache := fs.String("image", hosts.DefaultImageCacheDir(), "image cache directory")
	timeout := fs.Duration("timeout", 10*time.Minute, "bound on the start (image build included)")
	_ = fs.Parse(args)
	sn, err := netip.ParsePrefix(*subnet)
	if err != nil {
		return fmt.Errorf("-subnet: %w", err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	startCtx, startCancel := context.WithTimeout(ctx, *timeout)
	defer startCancel()
	env, err := hosts.Start(startCtx, hosts.Options{
		Dir: *dir, Hosts: *n, Libvirt: *libvirt, Prefix: *prefix, Subnet: sn,
		Image: hosts.ImageOptions{Cache: *cache},
		Logf:  func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
	})
	if err != nil {
		return err
	}
	fmt.Printf("%d hosts up in %s; bridge %s %s; Ctrl-C stops them\n", env.N(), env.Timings.Total.Round(time.Millisecond), env.Bridge, env.BridgeAddr)
	for _, h := range env.Hosts() {
		fmt.Printf("  %-7s %-12s ssh -i %s -o UserKnownHostsFile=%s root@%s   (root %s, netns %s)\n",
			h.Name, h.Addr, env.ClientKeyFile, env.KnownHostsFile, h.Addr, h.Root, h.Netns)
	}
	<-ctx.Done()
	fmt.Println("stopping")
	stopCtx, stopCancel := context.WithTimeout(context.Background(), time.Minute)
	defer stopCancel()
	return env.Stop(stopCtx)
}

func image(args []string) error {
	fs := flag.NewFlagSet("image", flag.ExitOnError)
	cache := fs.String("cache", hosts.DefaultImageCacheDir(), "image cache directory")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	img, err := hosts.BuildImage(ctx, hosts.ImageOptions{
		Cache: *cache,
		Logf:  func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
	})
	if err != nil {
		return err
	}
	state := "built"
	if img.Cached {
		state = "cached"
	}
	fmt.Printf("image %s: %s in %s, %d MB\n", img.Root, state, img.Duration.Round(time.Millisecond), img.Bytes>>20)
	return nil
}

func cleanup(args []string) error {
	fs := flag.NewFlagSet("cleanup", flag.ExitOnError)
	prefix := fs.String("prefix", hosts.DefaultPrefix, "prefix of the environment to remove")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return hosts.Cleanup(ctx, *prefix)
}
