// Package pluginproto holds what both ends of the provider plugin protocol
// share: the go-plugin handshake and the generated gRPC code of each
// protocol version (v1/). Plugin authors never import it; plugins/sdk does.
package pluginproto

import "github.com/hashicorp/go-plugin"

// Handshake is the go-plugin handshake. The cookie only keeps a plugin from
// being run by hand by mistake (it then prints a helpful message); it is not
// a security measure.
var Handshake = plugin.HandshakeConfig{
	// ProtocolVersion is go-plugin's fallback for plugins that do not
	// negotiate; VersionedPlugins below is what escalator uses.
	ProtocolVersion:  1,
	MagicCookieKey:   "ESCALATOR_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "d4b3c0a8f1e2-escalator-provider",
}

// PluginName is the name under which the provider is dispensed.
const PluginName = "provider"

// SupportedVersions are the protocol versions this build speaks, highest
// last. Both sides announce theirs; go-plugin picks the highest common one.
var SupportedVersions = []int{1}
