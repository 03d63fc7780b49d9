package openstack

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/aggregates"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/endpoints"
	idservices "github.com/gophercloud/gophercloud/v2/openstack/identity/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceproviders"
)

// AuthOptions are the admin credentials of the environment for
// gophercloud (user and project in domain Default).
func (e *Env) AuthOptions() gophercloud.AuthOptions {
	return gophercloud.AuthOptions{
		IdentityEndpoint: e.AuthURL,
		Username:         e.Username,
		Password:         e.Password,
		DomainName:       e.Domain,
		TenantName:       e.Project,
		AllowReauth:      true,
	}
}

// Provider is an authenticated gophercloud provider client for the
// environment's admin.
func (e *Env) Provider(ctx context.Context) (*gophercloud.ProviderClient, error) {
	p, err := gos.AuthenticatedClient(ctx, e.AuthOptions())
	if err != nil {
		return nil, fmt.Errorf("authenticate to %s as %s: %w", e.AuthURL, e.Username, err)
	}
	return p, nil
}

// clients are the harness's own API clients.
type clients struct {
	compute, placement *gophercloud.ServiceClient
}

func (e *Env) clients(ctx context.Context) (*clients, error) {
	p, err := e.Provider(ctx)
	if err != nil {
		return nil, err
	}
	eo := gophercloud.EndpointOpts{Region: e.Region, Availability: gophercloud.AvailabilityPublic}
	c := &clients{}
	if c.compute, err = gos.NewComputeV2(p, eo); err != nil {
		return nil, err
	}
	// 2.53: service ids are UUIDs; enough for everything here.
	c.compute.Microversion = "2.53"
	if c.placement, err = gos.NewPlacementV1(p, eo); err != nil {
		return nil, err
	}
	return c, nil
}

// createCatalog registers the services other than Keystone (which
// keystone-manage bootstrap registered) with one URL for every interface.
func (e *Env) createCatalog(ctx context.Context) error {
	p, err := e.Provider(ctx)
	if err != nil {
		return err
	}
	id, err := gos.NewIdentityV3(p, gophercloud.EndpointOpts{})
	if err != nil {
		return err
	}
	entries := []struct{ name, typ, url string }{
		{"nova", "compute", fmt.Sprintf("http://127.0.0.1:%d/v2.1", e.Ports.NovaAPI)},
		{"placement", "placement", fmt.Sprintf("http://127.0.0.1:%d", e.Ports.Placement)},
		{"glance", "image", fmt.Sprintf("http://127.0.0.1:%d", e.Ports.Glance)},
		{"neutron", "network", fmt.Sprintf("http://127.0.0.1:%d", e.Ports.Neutron)},
	}
	for _, en := range entries {
		svc, err := idservices.Create(ctx, id, idservices.CreateOpts{Type: en.typ, Extra: map[string]any{"name": en.name}}).Extract()
		if err != nil {
			return fmt.Errorf("register the %s service in Keystone: %w", en.typ, err)
		}
		// Nova and the others look for internal, then public.
		for _, av := range []gophercloud.Availability{gophercloud.AvailabilityPublic, gophercloud.AvailabilityInternal} {
			_, err := endpoints.Create(ctx, id, endpoints.CreateOpts{Availability: av, Region: e.Region, URL: en.url, ServiceID: svc.ID}).Extract()
			if err != nil {
				return fmt.Errorf("register the %s %s endpoint in Keystone: %w", en.typ, av, err)
			}
		}
	}
	e.logf("catalog registered")
	return nil
}

func listServices(ctx context.Context, c *gophercloud.ServiceClient, binary string) ([]services.Service, error) {
	pages, err := services.List(c, services.ListOpts{Binary: binary}).AllPages(ctx)
	if err != nil {
		return nil, err
	}
	return services.ExtractServices(pages)
}

// waitControlServices waits until nova-conductor and nova-scheduler report
// up: they only show in os-services once their RPC servers run.
func (e *Env) waitControlServices(ctx context.Context, cl *clients) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	want := []string{"nova-conductor", "nova-scheduler"}
	for {
		var missing []string
		for _, b := range want {
			svcs, err := listServices(ctx, cl.compute, b)
			up := false
			for _, s := range svcs {
				up = up || s.State == "up"
			}
			if err != nil || !up {
				missing = append(missing, b)
			}
			if !e.leaderAlive(b) {
				return fmt.Errorf("%s exited while starting\n--- last lines of %s:\n%s", b, e.LogFile(b), tail(e.LogFile(b), 30))
			}
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			var logs []string
			for _, b := range missing {
				logs = append(logs, fmt.Sprintf("--- last lines of %s:\n%s", e.LogFile(b), tail(e.LogFile(b), 20)))
			}
			return fmt.Errorf("%s not up in os-services after 2 minutes\n%s", strings.Join(missing, ", "), strings.Join(logs, "\n"))
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// waitComputes waits until every named compute's service has state (up or
// down), from a report at or after since when since is set.
func (e *Env) waitComputes(ctx context.Context, cl *clients, names []string, state string, since time.Time) error {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	// updated_at has second resolution.
	since = since.Truncate(time.Second)
	for {
		svcs, err := listServices(ctx, cl.compute, "nova-compute")
		got := map[string]services.Service{}
		for _, s := range svcs {
			got[s.Host] = s
		}
		var pending []string
		for _, n := range names {
			s, ok := got[n]
			if !ok || s.State != state || (!since.IsZero() && s.UpdatedAt.Before(since)) {
				pending = append(pending, n)
			}
			if state == "up" && !e.leaderAlive(computeDaemon(n)) {
				d := computeDaemon(n)
				return fmt.Errorf("%s exited while starting\n--- last lines of %s:\n%s", d, e.LogFile(d), tail(e.LogFile(d), 30))
			}
		}
		if err == nil && len(pending) == 0 {
			if len(names) > 1 || state != "up" {
				e.logf("nova-compute %s %s after %.1fs", strings.Join(names, ","), state, time.Since(t0).Seconds())
			}
			return nil
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("nova-compute on %s not %s in os-services after %s", strings.Join(pending, ", "), state, time.Since(t0).Round(time.Second))
			if err != nil {
				msg += fmt.Sprintf(" (last error: %v)", err)
			}
			if state == "up" && len(pending) > 0 {
				d := computeDaemon(pending[0])
				msg += fmt.Sprintf("\n--- last lines of %s:\n%s", e.LogFile(d), tail(e.LogFile(d), 20))
			}
			return fmt.Errorf("%s", msg)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// createZones makes one host aggregate per zone, with the zone as its
// availability_zone, and adds the zone's computes.
func (e *Env) createZones(ctx context.Context, cl *clients) error {
	e.Aggregates = nil
	for _, z := range e.Zones {
		agg, err := aggregates.Create(ctx, cl.compute, aggregates.CreateOpts{Name: z, AvailabilityZone: z}).Extract()
		if err != nil {
			return fmt.Errorf("create aggregate %s: %w", z, err)
		}
		for _, c := range e.Computes {
			if c.Zone != z {
				continue
			}
			if _, err := aggregates.AddHost(ctx, cl.compute, agg.ID, aggregates.AddHostOpts{Host: c.Name}).Extract(); err != nil {
				return fmt.Errorf("add %s to aggregate %s: %w", c.Name, z, err)
			}
		}
		e.Aggregates = append(e.Aggregates, z)
	}
	return nil
}

// waitResourceProviders waits until Placement has every compute's
// provider with its inventory: before that the scheduler finds no host.
func (e *Env) waitResourceProviders(ctx context.Context, cl *clients, names []string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		var pending []string
		pages, err := resourceproviders.List(cl.placement, resourceproviders.ListOpts{}).AllPages(ctx)
		var rps []resourceproviders.ResourceProvider
		if err == nil {
			rps, err = resourceproviders.ExtractResourceProviders(pages)
		}
		byName := map[string]string{}
		for _, rp := range rps {
			byName[rp.Name] = rp.UUID
		}
		for _, n := range names {
			uuid, ok := byName[n]
			if !ok {
				pending = append(pending, n)
				continue
			}
			inv, ierr := resourceproviders.GetInventories(ctx, cl.placement, uuid).Extract()
			if ierr != nil || len(inv.Inventories) == 0 {
				pending = append(pending, n)
			}
		}
		if err == nil && len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			sort.Strings(pending)
			return fmt.Errorf("no resource provider with inventory in Placement after 2 minutes for %s (last error: %v); see %s", strings.Join(pending, ", "), err, e.LogFile(computeDaemon(pending[0])))
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// uploadImage creates a public 1 MiB raw image: servers of the fake driver
// need one to boot from, its content never matters.
func (e *Env) uploadImage(ctx context.Context) error {
	p, err := e.Provider(ctx)
	if err != nil {
		return err
	}
	c, err := gos.NewImageV2(p, gophercloud.EndpointOpts{Region: e.Region})
	if err != nil {
		return err
	}
	public := images.ImageVisibilityPublic
	img, err := images.Create(ctx, c, images.CreateOpts{
		Name: "escalator-test-raw", DiskFormat: "raw", ContainerFormat: "bare", Visibility: &public,
	}).Extract()
	if err != nil {
		return fmt.Errorf("create the image in Glance: %w\n--- last lines of %s:\n%s", err, e.LogFile("glance-api"), tail(e.LogFile("glance-api"), 20))
	}
	if err := imagedata.Upload(ctx, c, img.ID, bytes.NewReader(make([]byte, 1<<20))).ExtractErr(); err != nil {
		return fmt.Errorf("upload the image to Glance: %w\n--- last lines of %s:\n%s", err, e.LogFile("glance-api"), tail(e.LogFile("glance-api"), 20))
	}
	got, err := images.Get(ctx, c, img.ID).Extract()
	if err != nil {
		return err
	}
	if got.Status != images.ImageStatusActive {
		return fmt.Errorf("image %s is %s after upload, want active; see %s", img.ID, got.Status, e.LogFile("glance-api"))
	}
	e.ImageID = img.ID
	e.logf("image %s uploaded", img.ID)
	return nil
}

// defaultFlavors: small enough that many servers fit on DefaultSizing.
var defaultFlavors = []Flavor{
	{Name: "m1.tiny", VCPUs: 1, RAMMB: 512, DiskGB: 1},
	{Name: "m1.small", VCPUs: 2, RAMMB: 2048, DiskGB: 10},
}

func (e *Env) createFlavors(ctx context.Context) error {
	cl, err := e.clients(ctx)
	if err != nil {
		return err
	}
	public := true
	e.Flavors = nil
	for _, f := range defaultFlavors {
		disk := f.DiskGB
		got, err := flavors.Create(ctx, cl.compute, flavors.CreateOpts{Name: f.Name, VCPUs: f.VCPUs, RAM: f.RAMMB, Disk: &disk, IsPublic: &public}).Extract()
		if err != nil {
			return fmt.Errorf("create flavor %s: %w", f.Name, err)
		}
		f.ID = got.ID
		e.Flavors = append(e.Flavors, f)
	}
	return nil
}

// FlavorID returns the ID of the environment's flavor name ("m1.tiny").
func (e *Env) FlavorID(name string) (string, error) {
	for _, f := range e.Flavors {
		if f.Name == name {
			return f.ID, nil
		}
	}
	return "", fmt.Errorf("no flavor %q in the environment", name)
}
