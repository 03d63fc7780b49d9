// Command osenv starts, inspects and stops the real OpenStack test
// environment of testing/openstack by hand:
//
//	osenv up -dir /tmp/os -computes 6 -zones 2
//	osenv status -dir /tmp/os
//	osenv stop-compute -dir /tmp/os compute3
//	osenv start-compute -dir /tmp/os compute3
//	osenv down -dir /tmp/os
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/escalator-nfv/escalator/testing/openstack"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: osenv COMMAND [flags]

commands:
  up             build and start an environment in -dir (wipes a stopped one there)
  down           stop every daemon of the environment in -dir (the directory is kept)
  status         list the daemons, their PIDs, memory and logs
  stop-compute   stop one nova-compute:  osenv stop-compute -dir D compute3
  start-compute  start it again and wait until Nova reports it up

Run "osenv COMMAND -h" for the flags of a command.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "--help" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("osenv "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "state directory of the environment (required)")
	var opts openstack.Options
	if cmd == "up" {
		fs.IntVar(&opts.Computes, "computes", 2, "number of nova-compute processes")
		fs.IntVar(&opts.Zones, "zones", 1, "availability zones the computes are split into")
		fs.IntVar(&opts.BasePort, "base-port", 0, fmt.Sprintf("first of 9 consecutive loopback ports (0: first free block from %d)", openstack.DefaultBasePort))
		fs.StringVar(&opts.CacheDir, "cache", "", "install.sh's cache directory (default $OSENV_CACHE or "+openstack.DefaultCacheDir+")")
		fs.IntVar(&opts.Sizing.VCPUs, "vcpus", 0, "vCPUs of each fake hypervisor (0: default)")
		fs.IntVar(&opts.Sizing.MemoryMB, "memory-mb", 0, "memory of each fake hypervisor in MB (0: default)")
		fs.IntVar(&opts.Sizing.DiskGB, "disk-gb", 0, "disk of each fake hypervisor in GB (0: default)")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" {
		fmt.Fprintf(stderr, "osenv %s: -dir is required\n", cmd)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "up":
		opts.Dir = *dir
		opts.Log = stderr
		err = up(ctx, opts, stdout)
	case "down":
		err = down(ctx, *dir, stdout)
	case "status":
		err = status(*dir, stdout)
	case "stop-compute", "start-compute":
		if fs.NArg() != 1 {
			fmt.Fprintf(stderr, "osenv %s: name one compute (compute1 …)\n", cmd)
			return 2
		}
		err = computeCmd(ctx, cmd, *dir, fs.Arg(0), stdout)
	default:
		fmt.Fprintf(stderr, "osenv: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "osenv %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func up(ctx context.Context, opts openstack.Options, stdout io.Writer) error {
	env, err := openstack.Start(ctx, opts)
	if err != nil {
		return err
	}
	cp, cs := env.RSS()
	fmt.Fprintf(stdout, `OpenStack test environment up in %s (control plane %s, %d computes %s)
  state:      %s
  auth:       %s  (user %s, project %s, domain %s)
  credentials: . %s   or   OS_CLIENT_CONFIG_FILE=%s OS_CLOUD=%s
  image:      %s
  memory:     %d MB control plane + %d MB computes
  stop:       osenv down -dir %s
`, env.Timings.Total.Round(time.Second), env.Timings.ControlPlane.Round(100*time.Millisecond), len(env.Computes),
		env.Timings.Computes.Round(100*time.Millisecond), env.Dir, env.AuthURL, env.Username, env.Project, env.Domain,
		env.OpenRC, env.CloudsYAML, env.CloudName, env.ImageID, cp>>20, cs>>20, env.Dir)
	return nil
}

func down(ctx context.Context, dir string, stdout io.Writer) error {
	env, err := openstack.Load(dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	if err := env.Stop(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "stopped in %.1fs (state and logs kept in %s)\n", time.Since(t0).Seconds(), dir)
	return nil
}

func status(dir string, stdout io.Writer) error {
	env, err := openstack.Load(dir)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DAEMON\tPID\tSTATE\tRSS MB\tLOG")
	var total int64
	for _, d := range env.Status() {
		state := "stopped"
		if d.Running {
			state = "running"
		}
		total += d.RSS
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\n", d.Name, d.PID, state, d.RSS>>20, d.Log)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "total RSS %d MB; auth %s; ports %+v\n", total>>20, env.AuthURL, env.Ports)
	return nil
}

func computeCmd(ctx context.Context, cmd, dir, name string, stdout io.Writer) error {
	env, err := openstack.Load(dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	if cmd == "stop-compute" {
		err = env.StopCompute(ctx, name)
	} else {
		err = env.StartCompute(ctx, name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s done in %.1fs\n", name, cmd, time.Since(t0).Seconds())
	return nil
}
