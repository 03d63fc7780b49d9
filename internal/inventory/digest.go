package inventory

import (
	"encoding/json"
	"slices"
	"strconv"
)

// The digests hash each value's encoding/json encoding: the struct fields
// in order with their omitempty rules, map keys sorted, strings escaped as
// json.Marshal escapes them (HTML-safe). The functions below append those
// exact bytes without reflection, several times faster on the 200,000
// instances of a large cloud; TestDigestEncodingMatchesJSON holds them to
// json.Marshal. A field added to Host, Instance, ServerGroup or
// VNFManager must be added here too, or the test fails.

// appendJSONString appends s as json.Marshal encodes it. Plain ASCII (the
// usual host names, ids and versions) is copied; anything that needs
// escaping or UTF-8 checking goes through encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainJSON[s[i]] {
			enc, _ := json.Marshal(s) // a string always marshals
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plainJSON holds the bytes encoding/json copies as they are: printable
// ASCII but for the quote, the backslash and the HTML-sensitive <, > and &.
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

func appendKey(b []byte, comma bool, key string) []byte {
	if comma {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendResourcesJSON(b []byte, r Resources) []byte {
	b = append(b, `{"vcpus":`...)
	b = strconv.AppendInt(b, r.VCPUs, 10)
	b = append(b, `,"memory_mb":`...)
	b = strconv.AppendInt(b, r.MemoryMB, 10)
	if r.DiskGB != 0 {
		b = append(b, `,"disk_gb":`...)
		b = strconv.AppendInt(b, r.DiskGB, 10)
	}
	return append(b, '}')
}

func appendStringsJSON(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendMapJSON encodes a non-nil map with its keys sorted, as
// encoding/json does.
func appendMapJSON(b []byte, m map[string]string) []byte {
	var arr [16]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

func appendHostJSON(b []byte, h *Host) []byte {
	b = append(b, '{')
	b = appendKey(b, false, "name")
	b = appendJSONString(b, h.Name)
	b = appendKey(b, true, "role")
	b = appendJSONString(b, h.Role)
	b = appendKey(b, true, "availability_zone")
	b = appendJSONString(b, h.AvailabilityZone)
	if len(h.Aggregates) > 0 {
		b = appendKey(b, true, "aggregates")
		b = appendStringsJSON(b, h.Aggregates)
	}
	b = appendKey(b, true, "capacity")
	b = appendResourcesJSON(b, h.Capacity)
	b = appendKey(b, true, "used")
	b = appendResourcesJSON(b, h.Used)
	b = appendKey(b, true, "state")
	b = appendJSONString(b, h.State)
	if h.StateReason != "" {
		b = appendKey(b, true, "state_reason")
		b = appendJSONString(b, h.StateReason)
	}
	if len(h.Versions) > 0 {
		b = appendKey(b, true, "versions")
		b = appendMapJSON(b, h.Versions)
	}
	if len(h.Attributes) > 0 {
		b = appendKey(b, true, "attributes")
		b = appendMapJSON(b, h.Attributes)
	}
	return append(b, '}')
}

func appendInstanceJSON(b []byte, in *Instance) []byte {
	b = append(b, '{')
	b = appendKey(b, false, "id")
	b = appendJSONString(b, in.ID)
	b = appendKey(b, true, "name")
	b = appendJSONString(b, in.Name)
	b = appendKey(b, true, "host")
	b = appendJSONString(b, in.Host)
	b = appendKey(b, true, "resources")
	b = appendResourcesJSON(b, in.Resources)
	b = appendKey(b, true, "status")
	b = appendJSONString(b, in.Status)
	b = appendKey(b, true, "project")
	b = appendJSONString(b, in.Project)
	if in.ServerGroup != "" {
		b = appendKey(b, true, "server_group")
		b = appendJSONString(b, in.ServerGroup)
	}
	b = appendKey(b, true, "live_migratable")
	b = strconv.AppendBool(b, in.LiveMigratable)
	return append(b, '}')
}

func appendServerGroupJSON(b []byte, g *ServerGroup) []byte {
	b = append(b, '{')
	b = appendKey(b, false, "id")
	b = appendJSONString(b, g.ID)
	b = appendKey(b, true, "name")
	b = appendJSONString(b, g.Name)
	b = appendKey(b, true, "policy")
	b = appendJSONString(b, g.Policy)
	b = appendKey(b, true, "project")
	b = appendJSONString(b, g.Project)
	b = appendKey(b, true, "members")
	b = appendStringsJSON(b, g.Members)
	return append(b, '}')
}

func appendVNFManagerJSON(b []byte, m *VNFManager) []byte {
	b = append(b, '{')
	b = appendKey(b, false, "name")
	b = appendJSONString(b, m.Name)
	b = appendKey(b, true, "project")
	b = appendJSONString(b, m.Project)
	b = appendKey(b, true, "url")
	b = appendJSONString(b, m.URL)
	return append(b, '}')
}
