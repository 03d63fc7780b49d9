package pluginhost

import (
	"time"

	"github.com/hashicorp/go-hclog"
)

// Timeouts bound each kind of call to a plugin. A call that runs past its
// timeout fails with a diagnostic saying the plugin did not answer in time;
// escalator never waits on a plugin without a limit.
type Timeouts struct {
	// Metadata bounds GetMetadata; Schema bounds GetSchema. Neither may
	// contact the cloud, so they should be instant.
	Metadata time.Duration
	Schema   time.Duration
	// Validate bounds ValidateConfig, which must not contact the cloud
	// either but may look at local files.
	Validate time.Duration
	// Configure bounds Configure, which usually logs in to the cloud.
	Configure time.Duration
	// Inventory bounds ReadInventory, as a whole: the cloud may be large.
	Inventory time.Duration
	// Plan bounds one PlanComponent.
	Plan time.Duration
	// Stop bounds Stop.
	Stop time.Duration
}

// DefaultTimeouts are used for every zero field of Options.Timeouts.
// ExecuteAction has no default: its deadline is the caller's, because only
// the plan knows how long an upgrade or a migration may take.
var DefaultTimeouts = Timeouts{
	Metadata:  30 * time.Second,
	Schema:    30 * time.Second,
	Validate:  30 * time.Second,
	Configure: 2 * time.Minute,
	Inventory: 10 * time.Minute,
	Plan:      time.Minute,
	Stop:      10 * time.Second,
}

// withDefaults fills the zero fields of t from DefaultTimeouts.
func (t Timeouts) withDefaults() Timeouts {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&t.Metadata, DefaultTimeouts.Metadata)
	def(&t.Schema, DefaultTimeouts.Schema)
	def(&t.Validate, DefaultTimeouts.Validate)
	def(&t.Configure, DefaultTimeouts.Configure)
	def(&t.Inventory, DefaultTimeouts.Inventory)
	def(&t.Plan, DefaultTimeouts.Plan)
	def(&t.Stop, DefaultTimeouts.Stop)
	return t
}

// DefaultStartTimeout bounds how long a plugin may take between being
// started and announcing its address (the go-plugin handshake).
const DefaultStartTimeout = 30 * time.Second

// Options tune how providers are started and called. The zero value uses
// the defaults and the process-wide logger.
type Options struct {
	// Timeouts per call kind; zero fields take DefaultTimeouts.
	Timeouts Timeouts
	// StartTimeout bounds the handshake; zero means DefaultStartTimeout.
	StartTimeout time.Duration
	// Logger is the parent of the plugins' loggers (each gets a child
	// named provider.NAME); nil means logging.Logger().
	Logger hclog.Logger
	// Reattach is the value of ESCALATOR_REATTACH_PROVIDERS to use; nil
	// means read the environment variable.
	Reattach *string
	// WorkDir is the plugin process's working directory; relative paths in
	// provider configuration (the sim provider's cloud file, say) are
	// relative to it. StartAll sets it to the campaign directory.
	WorkDir string
	// Locate locates the plugin's diagnostics of calls given no Locator
	// (and of GetSchema and ReadInventory, which take none). nil leaves
	// them without a range, naming the path in the detail.
	Locate Locator
}

func (o Options) startTimeout() time.Duration {
	if o.StartTimeout > 0 {
		return o.StartTimeout
	}
	return DefaultStartTimeout
}
