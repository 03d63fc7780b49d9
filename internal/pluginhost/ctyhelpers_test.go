package pluginhost

import "github.com/zclconf/go-cty/cty"

type ctyValue = cty.Value

func ctyString(s string) cty.Value { return cty.StringVal(s) }
