package pluginproto

// Capabilities of protocol version 1: optional behaviour one side
// announces at Configure (the host in the request, the plugin in the
// response) and the other uses only when announced, so that a newer host
// and an older plugin, or the other way round, still understand each
// other.
const (
	// CapInventoryBatches, announced by the host, lets the plugin send
	// ReadInventory items in batches (ReadInventory.Item.batch).
	CapInventoryBatches = "inventory_batches"
)
