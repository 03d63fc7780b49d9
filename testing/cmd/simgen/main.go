// Command simgen writes a simulated cloud for the sim provider, of any
// size, the same for the same seed:
//
//	go run ./testing/cmd/simgen -hosts 10000 -instances-per-host 20 -group-size 3 -seed 1 -out cloud.json
//
// See website/docs/providers/sim.md for what the cloud looks like.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sim"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "simgen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	o := sim.DefaultGenOptions()
	fs := flag.NewFlagSet("simgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.Hosts, "hosts", o.Hosts, "number of compute hosts")
	fs.IntVar(&o.InstancesPerHost, "instances-per-host", o.InstancesPerHost, "instances on each compute host")
	fs.IntVar(&o.GroupSize, "group-size", o.GroupSize, "members per anti-affinity group (below 2: no groups)")
	fs.Float64Var(&o.GroupedFraction, "grouped", o.GroupedFraction, "share of instances in server groups")
	fs.Float64Var(&o.SoftFraction, "soft", o.SoftFraction, "share of groups that are soft-anti-affinity")
	fs.IntVar(&o.Zones, "zones", o.Zones, "availability zones az1..azN")
	fs.IntVar(&o.Controllers, "controllers", o.Controllers, "control-plane hosts (role controller)")
	fs.IntVar(&o.HostsPerRack, "hosts-per-rack", o.HostsPerRack, "compute hosts per rack")
	fs.IntVar(&o.Projects, "projects", o.Projects, "projects, each with a VNF manager")
	fs.Float64Var(&o.Utilization, "utilization", o.Utilization, "target share of compute vCPUs in use")
	fs.Float64Var(&o.MaxFill, "max-fill", o.MaxFill, "no host is filled beyond this share")
	fs.Float64Var(&o.ShutoffFraction, "shutoff", o.ShutoffFraction, "share of SHUTOFF instances")
	fs.Float64Var(&o.NonLiveFraction, "non-live", o.NonLiveFraction, "share of instances that cannot be live-migrated")
	fs.Float64Var(&o.SpareFraction, "spare", o.SpareFraction, "share of each zone's compute hosts left empty (spare hosts for failover)")
	fs.StringVar(&o.VNFMURL, "vnfm-url", o.VNFMURL, "URL of every VNF manager")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "random seed; the same seed and flags give the same cloud")
	out := fs.String("out", "cloud.json", `output file ("-" for standard output); written atomically`)
	quiet := fs.Bool("q", false, "do not print the summary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; every option is a flag", fs.Args())
	}

	start := time.Now()
	c, err := sim.Generate(o)
	if err != nil {
		return err
	}
	generated := time.Since(start)
	if *out == "-" {
		err = sim.EncodeCloud(stdout, c)
	} else {
		err = sim.WriteCloudFile(*out, c)
	}
	if err != nil {
		return err
	}
	if *quiet {
		return nil
	}
	var capacity, used sim.Resources
	compute := 0
	for _, h := range c.Hosts {
		if h.Role == "compute" {
			capacity = capacity.Add(h.Capacity)
			compute++
		}
	}
	for _, in := range c.Instances {
		used = used.Add(in.Flavor.Resources)
	}
	size := ""
	if *out != "-" {
		if fi, err := os.Stat(*out); err == nil {
			size = fmt.Sprintf(", %.1f MB", float64(fi.Size())/1e6)
		}
	}
	fmt.Fprintf(stderr, "simgen: %d hosts (%d compute), %d instances, %d server groups, %d VNF managers; vCPU %.1f%% used, memory %.1f%% used\n",
		len(c.Hosts), compute, len(c.Instances), len(c.ServerGroups), len(c.VNFManagers),
		100*float64(used.VCPUs)/float64(max(capacity.VCPUs, 1)), 100*float64(used.MemoryMB)/float64(max(capacity.MemoryMB, 1)))
	fmt.Fprintf(stderr, "simgen: wrote %s%s in %s (generation %s)\n", *out, size, time.Since(start).Round(time.Millisecond), generated.Round(time.Millisecond))
	return nil
}
