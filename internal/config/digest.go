package config

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"

	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Digest is a hash of everything the campaign's meaning depends on: every
// campaign file's bytes and every variable's final value. A saved plan
// records it so that apply can refuse a plan made from another campaign.
func (c *Config) Digest() string {
	h := sha256.New()
	names := make([]string, 0, len(c.Files))
	for n := range c.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := c.Files[n]
		if f == nil {
			continue
		}
		sum := sha256.Sum256(f.Bytes)
		h.Write([]byte(n + "\x00" + hex.EncodeToString(sum[:]) + "\n"))
	}
	for _, n := range sortedKeys(c.Variables) {
		v := c.Variables[n].Value
		if v.IsNull() || !v.IsWhollyKnown() {
			h.Write([]byte("var." + n + "=?\n"))
			continue
		}
		v, _ = v.UnmarkDeep()
		b, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			b = []byte("!" + err.Error())
		}
		h.Write([]byte("var." + n + "="))
		h.Write(b)
		h.Write([]byte("\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}
