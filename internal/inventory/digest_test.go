package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// tricky strings: everything json.Marshal escapes or rewrites.
var tricky = []string{
	"", "plain", `quote"d`, `back\slash`, "<html>&amp;", "tab\there\nnl\r\b\f\x01\x1f\x7f",
	"ünïcødé ✓", "line\u2028sep\u2029", "bad\xffutf8\xc3", "😀 emoji",
}

func fullHost(i int, s string) *Host {
	return &Host{
		Name: fmt.Sprintf("h%03d%s", i, s), Role: "compute" + s, AvailabilityZone: "az" + s,
		Aggregates: []string{"a", s}, Capacity: Resources{VCPUs: 64, MemoryMB: 1 << 20, DiskGB: int64(i)},
		Used: Resources{VCPUs: -1, MemoryMB: 0}, State: StateUp, StateReason: s,
		Versions: map[string]string{"nova": "27" + s, s: "x", "b": "", "a": s}, Attributes: map[string]string{"rack": s},
	}
}

// TestDigestEncodingMatchesJSON holds the hand-written encoders to
// encoding/json, byte for byte: the digests of saved plans depend on it.
func TestDigestEncodingMatchesJSON(t *testing.T) {
	// A new field must be encoded (digest.go) before this count changes.
	for typ, n := range map[reflect.Type]int{
		reflect.TypeOf(Host{}): 10, reflect.TypeOf(Instance{}): 8, reflect.TypeOf(ServerGroup{}): 5,
		reflect.TypeOf(VNFManager{}): 3, reflect.TypeOf(Resources{}): 3,
	} {
		if typ.NumField() != n {
			t.Errorf("%s has %d fields, digest.go encodes %d: update appendXJSON and this test", typ, typ.NumField(), n)
		}
	}
	check := func(what string, got []byte, v any) {
		t.Helper()
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", what, got, want)
		}
	}
	for i, s := range tricky {
		h := fullHost(i, s)
		check("host", appendHostJSON(nil, h), h)
		empty := &Host{Name: s, Aggregates: []string{}, Versions: map[string]string{}}
		check("sparse host", appendHostJSON(nil, empty), empty)
		check("zero host", appendHostJSON(nil, &Host{}), &Host{})
		in := &Instance{ID: s, Name: s + "vm", Host: s, Resources: Resources{1, 2, 3}, Status: "ACTIVE", Project: s, ServerGroup: s, LiveMigratable: i%2 == 0}
		check("instance", appendInstanceJSON(nil, in), in)
		check("zero instance", appendInstanceJSON(nil, &Instance{}), &Instance{})
		g := &ServerGroup{ID: s, Name: s, Policy: "anti-affinity", Project: s, Members: []string{s, "b"}}
		check("group", appendServerGroupJSON(nil, g), g)
		check("group without members", appendServerGroupJSON(nil, &ServerGroup{ID: s}), &ServerGroup{ID: s})
		check("group with no members", appendServerGroupJSON(nil, &ServerGroup{Members: []string{}}), &ServerGroup{Members: []string{}})
		m := &VNFManager{Name: s, Project: s, URL: "http://x/?a=1&b=<" + s}
		check("vnfm", appendVNFManagerJSON(nil, m), m)
		check("string", appendJSONString(nil, s), s)
	}
	for c := 0; c < 256; c++ {
		s := "a" + string([]byte{byte(c)}) + "b"
		check(fmt.Sprintf("byte %#x", c), appendJSONString(nil, s), s)
	}
}

// referenceDigest is Digest as first written, with encoding/json.
func referenceDigest(s *Snapshot) (string, map[string]string) {
	writeJSON := func(w interface{ Write([]byte) (int, error) }, v any) {
		b, _ := json.Marshal(v)
		w.Write(b)
		w.Write([]byte{'\n'})
	}
	all := sha256.New()
	hosts := map[string]string{}
	names := map[string]bool{}
	for _, p := range sortedKeys(s.Providers) {
		for _, h := range s.Providers[p].Hosts {
			names[h.Name] = true
		}
	}
	for _, name := range sortedKeys(names) {
		hh := sha256.New()
		for _, p := range sortedKeys(s.Providers) {
			if h, ok := s.hosts[p][name]; ok {
				writeJSON(hh, p)
				writeJSON(hh, h)
			}
		}
		for _, in := range s.onHost[name] {
			writeJSON(hh, in)
		}
		sum := hex.EncodeToString(hh.Sum(nil))
		hosts[name] = sum
		all.Write([]byte(name + "=" + sum + "\n"))
	}
	for _, g := range s.ServerGroups() {
		writeJSON(all, g)
	}
	for _, v := range s.VNFManagers() {
		writeJSON(all, v)
	}
	return hex.EncodeToString(all.Sum(nil)), hosts
}

func TestDigestMatchesReference(t *testing.T) {
	build := func(providers ...string) *Snapshot {
		invs := map[string]*Inventory{}
		for pi, p := range providers {
			inv := &Inventory{}
			for i := 700; i > 0; i-- { // reverse order: NewSnapshot sorts
				s := tricky[i%len(tricky)]
				inv.Hosts = append(inv.Hosts, fullHost(i, s))
				for j := 0; j < 3; j++ {
					inv.Instances = append(inv.Instances, &Instance{
						ID: fmt.Sprintf("i-%d-%d-%d", pi%2, i, j), Name: s, Host: fmt.Sprintf("h%03d%s", (i+j)%700+1, tricky[((i+j)%700+1)%len(tricky)]),
						Resources: Resources{VCPUs: int64(j)}, Status: "ACTIVE", ServerGroup: fmt.Sprint("g", i%60), LiveMigratable: j == 1,
					})
				}
			}
			for g := 50; g > 0; g-- {
				inv.ServerGroups = append(inv.ServerGroups, &ServerGroup{ID: fmt.Sprint("g", g%50), Policy: "anti-affinity", Members: []string{"z", "a", tricky[g%len(tricky)]}})
			}
			inv.VNFManagers = []*VNFManager{{Name: "z" + p}, {Name: "a", URL: "<&>"}}
			invs[p] = inv
		}
		s, err := NewSnapshot(time.Unix(0, 0), invs)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, providers := range [][]string{{"sim"}, {"sim", "openstack", "hostos"}} {
		s := build(providers...)
		total, hosts := s.Digest()
		wantTotal, wantHosts := referenceDigest(s)
		if total != wantTotal {
			t.Errorf("%v: total digest %s, want %s", providers, total, wantTotal)
		}
		if !reflect.DeepEqual(hosts, wantHosts) {
			t.Errorf("%v: host digests differ from the reference", providers)
		}
		if t1, h1 := s.DigestOn(1); t1 != total || !reflect.DeepEqual(h1, hosts) {
			t.Errorf("%v: digests on one core differ from Digest's", providers)
		}
		// Each instance's host and group indexes name its host and group.
		names, groups := s.InstanceHosts(), s.ServerGroups()
		for i, in := range s.Instances() {
			if names[s.HostIndex(i)] != in.Host {
				t.Fatalf("%v: instance %s is on %q, its host index names %q", providers, in.ID, in.Host, names[s.HostIndex(i)])
			}
			sg, ok := s.ServerGroup(in.ServerGroup)
			if g := s.InstanceGroup(i); ok != (g >= 0) || ok && groups[g] != sg {
				t.Fatalf("%v: instance %s of group %q has group index %d", providers, in.ID, in.ServerGroup, g)
			}
		}
		// Every host's instances sorted, each instance once.
		n := 0
		for name, list := range s.onHost {
			for i := range list {
				if i > 0 && list[i-1].ID >= list[i].ID {
					t.Fatalf("%v: instances on %q not sorted or duplicated", providers, name)
				}
				if list[i].Host != name {
					t.Fatalf("%v: instance %s listed on %q, is on %q", providers, list[i].ID, name, list[i].Host)
				}
			}
			n += len(list)
		}
		if n != len(s.kept) {
			t.Errorf("%v: %d instances in the host lists, %d indexed", providers, n, len(s.kept))
		}
		// A caller appending to a host's list must not clobber another's.
		for name, list := range s.onHost {
			_ = append(list, &Instance{ID: "clobber"})
			_ = name
		}
		for name, list := range s.onHost {
			for _, in := range list {
				if in.ID == "clobber" {
					t.Fatalf("%v: append to a host's list overwrote %q's", providers, name)
				}
			}
		}
	}
}
