package sim

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// blockType is the cty type escalator gives a provider block's value.
func blockType(b sdk.Block) cty.Type {
	attrs := map[string]cty.Type{}
	for _, a := range b.Attributes {
		attrs[a.Name] = a.Type
	}
	for _, nb := range b.Blocks {
		t := blockType(nb.Block)
		if nb.Nesting == sdk.NestingList {
			t = cty.List(t)
		}
		attrs[nb.TypeName] = t
	}
	return cty.Object(attrs)
}

// conform builds a value of block b's type from the attributes given,
// the rest null, as escalator sends a configuration.
func conform(t testing.TB, b sdk.Block, given map[string]cty.Value) cty.Value {
	t.Helper()
	ty := blockType(b)
	vals := map[string]cty.Value{}
	for name, at := range ty.AttributeTypes() {
		v, ok := given[name]
		if !ok {
			vals[name] = cty.NullVal(at)
			continue
		}
		if at.IsListType() && at.ElementType().IsObjectType() {
			// fault blocks: conform each element too.
			var nb sdk.Block
			for _, x := range b.Blocks {
				if x.TypeName == name {
					nb = x.Block
				}
			}
			var elems []cty.Value
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				m := map[string]cty.Value{}
				for k, ev := range e.AsValueMap() {
					m[k] = ev
				}
				elems = append(elems, conform(t, nb, m))
			}
			if len(elems) == 0 {
				vals[name] = cty.ListValEmpty(at.ElementType())
			} else {
				vals[name] = cty.ListVal(elems)
			}
			continue
		}
		cv, err := convert.Convert(v, at)
		if err != nil {
			t.Fatalf("attribute %s: %v", name, err)
		}
		vals[name] = cv
	}
	for name := range given {
		if _, ok := vals[name]; !ok {
			t.Fatalf("attribute %s is not in the schema", name)
		}
	}
	return cty.ObjectVal(vals)
}

// fault is a fault block's value.
func fault(attrs map[string]cty.Value) cty.Value { return cty.ObjectVal(attrs) }

// writeCloud writes c to a fresh temporary directory and returns the path.
func writeCloud(t testing.TB, c *Cloud) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cloud.json")
	if err := WriteCloudFile(path, c); err != nil {
		t.Fatal(err)
	}
	return path
}

// configure returns a provider configured on the cloud at path, instant
// (time_scale 0) unless the config says otherwise.
func configure(t testing.TB, path string, config map[string]cty.Value) *Provider {
	t.Helper()
	given := map[string]cty.Value{"cloud": cty.StringVal(path), "time_scale": cty.NumberIntVal(0)}
	for k, v := range config {
		given[k] = v
	}
	p := New()
	var resp sdk.ConfigureResponse
	p.Configure(context.Background(), sdk.ConfigureRequest{Config: conform(t, providerSchema(), given)}, &resp)
	if resp.Diagnostics.HasErrors() {
		t.Fatalf("Configure: %s", diagText(resp.Diagnostics))
	}
	return p
}

func diagText(ds sdk.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		sev := "error"
		if d.Severity == sdk.Warning {
			sev = "warning"
		}
		b.WriteString(sev + ": " + d.Summary + ": " + d.Detail + "\n")
	}
	return b.String()
}

func errorText(ds sdk.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		if d.Severity == sdk.Error {
			b.WriteString(d.Summary + ": " + d.Detail + "\n")
		}
	}
	return b.String()
}

func warningText(ds sdk.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		if d.Severity == sdk.Warning {
			b.WriteString(d.Detail + "\n")
		}
	}
	return b.String()
}

func exec(t testing.TB, p *Provider, req sdk.ExecuteActionRequest) *sdk.ExecuteActionResponse {
	t.Helper()
	return execCtx(context.Background(), p, req)
}

func execCtx(ctx context.Context, p *Provider, req sdk.ExecuteActionRequest) *sdk.ExecuteActionResponse {
	resp := &sdk.ExecuteActionResponse{}
	p.ExecuteAction(ctx, req, resp)
	return resp
}

// mustOK fails the test if the action failed.
func mustOK(t testing.TB, p *Provider, req sdk.ExecuteActionRequest) map[string]string {
	t.Helper()
	resp := exec(t, p, req)
	if resp.Diagnostics.HasErrors() {
		t.Fatalf("%s %s: %s", req.Kind, req.ID, diagText(resp.Diagnostics))
	}
	return resp.Outputs
}

// readCloud reads the cloud as a provider sees it: the file and the
// bookkeeping of its step log.
func readCloud(t testing.TB, path string) *Cloud {
	t.Helper()
	c, err := ReadCloud(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readCloudFile decodes the cloud file alone, as a tool reading it would.
func readCloudFile(t testing.TB, path string) *Cloud {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := DecodeCloud(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func events(t testing.TB, path string) []Event {
	t.Helper()
	evs, err := ReadEvents(path + ".events.jsonl")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return evs
}

// testCloud is a small cloud the rule tests adjust:
//
//	h1, h2 in az1; h3, h4 in az2; 16 vCPU, 32768 MB each; qemu 7.1.0.
//	anti (anti-affinity):  a1 on h1, a2 on h2
//	soft (soft-anti):      s1 on h1, s2 on h3
//	aff  (affinity):       f1 and f2 on h4
//	loner on h1 (4 vCPU)
func testCloud() *Cloud {
	c := &Cloud{FormatVersion: FormatVersion, Name: "test"}
	for i, z := range []string{"az1", "az1", "az2", "az2"} {
		c.Hosts = append(c.Hosts, &Host{
			Name: "h" + string(rune('1'+i)), Role: "compute", AvailabilityZone: z,
			Capacity: Resources{VCPUs: 16, MemoryMB: 32768, DiskGB: 500},
			Versions: map[string]string{"qemu": "7.1.0", "nova_compute": "26.2.0"},
			State:    StateUp, Attributes: map[string]string{"rack": z + "-r1"},
		})
	}
	flavor := Flavor{Name: "m", Resources: Resources{VCPUs: 2, MemoryMB: 2048, DiskGB: 20}}
	add := func(id, host, group string) {
		in := &Instance{ID: id, Name: id, Flavor: flavor, Host: host, Status: StatusActive, Project: "p", ServerGroup: group, LiveMigratable: true}
		c.Instances = append(c.Instances, in)
		if group != "" {
			for _, g := range c.ServerGroups {
				if g.ID == group {
					g.Members = append(g.Members, id)
				}
			}
		}
	}
	c.ServerGroups = []*ServerGroup{
		{ID: "anti", Name: "anti", Policy: PolicyAntiAffinity, Project: "p"},
		{ID: "soft", Name: "soft", Policy: PolicySoftAntiAffinity, Project: "p"},
		{ID: "aff", Name: "aff", Policy: PolicyAffinity, Project: "p"},
	}
	add("a1", "h1", "anti")
	add("a2", "h2", "anti")
	add("s1", "h1", "soft")
	add("s2", "h3", "soft")
	add("f1", "h4", "aff")
	add("f2", "h4", "aff")
	add("loner", "h1", "")
	c.Instances[len(c.Instances)-1].Flavor = Flavor{Name: "l", Resources: Resources{VCPUs: 4, MemoryMB: 4096, DiskGB: 40}}
	c.VNFManagers = []*VNFManager{{Name: "p-vnfm", Project: "p", URL: DefaultVNFMURL}}
	if err := c.Index(); err != nil {
		panic(err)
	}
	return c
}

func migrate(id, inst, dest string, live bool) sdk.ExecuteActionRequest {
	return sdk.ExecuteActionRequest{ID: id, Kind: sdk.ActionMigrate, Instance: inst, Destination: dest, Live: live}
}

// withTimeout is a context that ends after d.
func withTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
