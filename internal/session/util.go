package session

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/escalator-nfv/escalator/internal/config"
)

func digestBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// variableValues records the variables' values in the plan file, typed
// (cty JSON with its type), so apply can use exactly what the plan used.
func variableValues(c *config.Config) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for name, v := range c.Variables {
		val, _ := v.Value.UnmarkDeep()
		if !val.IsWhollyKnown() {
			continue
		}
		b, err := ctyjson.Marshal(val, val.Type())
		if err != nil {
			continue
		}
		ty, err := ctyjson.MarshalType(val.Type())
		if err != nil {
			continue
		}
		doc, _ := json.Marshal(struct {
			Value json.RawMessage `json:"value"`
			Type  json.RawMessage `json:"type"`
		}{b, ty})
		out[name] = doc
	}
	return out
}
