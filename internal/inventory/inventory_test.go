package inventory

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/plugins/sdk"
)

type fakeReader struct {
	resp *sdk.ReadInventoryResponse
	err  error
}

func (f fakeReader) ReadInventory(context.Context) (*sdk.ReadInventoryResponse, diags.Diagnostics) {
	if f.err != nil {
		return nil, diags.Diagnostics{}.Append(f.err)
	}
	return f.resp, nil
}

func resp(hosts ...string) *sdk.ReadInventoryResponse {
	r := &sdk.ReadInventoryResponse{}
	for i, h := range hosts {
		r.Hosts = append(r.Hosts, sdk.Host{Name: h, State: sdk.HostUp, Capacity: sdk.Resources{VCPUs: 8}, Versions: map[string]string{"nova": "26"}})
		r.Instances = append(r.Instances, sdk.Instance{ID: "vm-" + h, Host: h, Resources: sdk.Resources{VCPUs: int64(i + 1)}})
	}
	return r
}

func TestRefreshAndDigest(t *testing.T) {
	now := func() time.Time { return time.Unix(0, 0) }
	s1, ds := Refresh(context.Background(), map[string]Reader{"sim": fakeReader{resp: resp("b", "a")}, "os": fakeReader{resp: resp("a")}}, now)
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	if got := s1.Hosts("sim"); len(got) != 2 || got[0].Name != "a" {
		t.Errorf("hosts not sorted: %v", got)
	}
	if len(s1.InstancesOn("a")) != 1 {
		t.Errorf("instance reported by two providers kept twice: %v", s1.InstancesOn("a"))
	}
	d1, h1 := s1.Digest()
	// The same inventory in another order has the same digest.
	s2, _ := Refresh(context.Background(), map[string]Reader{"os": fakeReader{resp: resp("a")}, "sim": fakeReader{resp: resp("b", "a")}}, now)
	if d2, _ := s2.Digest(); d1 != d2 {
		t.Error("digest depends on order")
	}
	// One host's version changes: the digest and that host's digest change.
	r := resp("b", "a")
	r.Hosts[0].Versions["nova"] = "27"
	s3, _ := Refresh(context.Background(), map[string]Reader{"sim": fakeReader{resp: r}, "os": fakeReader{resp: resp("a")}}, now)
	d3, h3 := s3.Digest()
	if d3 == d1 || h3["b"] == h1["b"] || h3["a"] != h1["a"] {
		t.Errorf("digest change not localised: %v %v", h1, h3)
	}
}

func TestRefreshErrors(t *testing.T) {
	_, ds := Refresh(context.Background(), map[string]Reader{"sim": fakeReader{err: errors.New(`provider "sim" crashed during ReadInventory`)}}, time.Now)
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "sim") {
		t.Errorf("got %v", ds.Err())
	}
	dup := resp("a")
	dup.Hosts = append(dup.Hosts, dup.Hosts[0])
	_, ds = Refresh(context.Background(), map[string]Reader{"sim": fakeReader{resp: dup}}, time.Now)
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "twice") {
		t.Errorf("got %v", ds.Err())
	}
}
