package sim

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/escalator-nfv/escalator/plugins/sdk"
	"github.com/zclconf/go-cty/cty"
)

// Defaults of the provider block.
const (
	DefaultCloudFile = "cloud.json"
	// DefaultTimeScale makes the quickstart's simulated hours run in
	// seconds while keeping the actions' relative lengths.
	DefaultTimeScale = 0.001
)

// Duration keys of the provider's `durations` map. Migration has two, as a
// cold migration copies the disk and takes longer than a live one.
const (
	DurEnterMaintenance = "enter_maintenance"
	DurLeaveMaintenance = "leave_maintenance"
	DurMigrateLive      = "migrate_live"
	DurMigrateCold      = "migrate_cold"
	DurBackup           = "backup"
	DurUpgrade          = "upgrade"
	DurVerify           = "verify"
	DurRollback         = "rollback"
	DurRestore          = "restore"
	DurProbe            = "probe"
)

// DefaultDurations are the simulated durations of each action kind before
// time_scale, roughly what the real operations take on a mid-size host.
var DefaultDurations = map[string]time.Duration{
	DurEnterMaintenance: 2 * time.Second,
	DurLeaveMaintenance: 2 * time.Second,
	DurMigrateLive:      20 * time.Second,
	DurMigrateCold:      60 * time.Second,
	DurBackup:           10 * time.Second,
	DurUpgrade:          120 * time.Second,
	DurVerify:           5 * time.Second,
	DurRollback:         90 * time.Second,
	DurRestore:          60 * time.Second,
	DurProbe:            time.Second,
}

// Fault modes.
const (
	FaultFail  = "fail"
	FaultHang  = "hang"
	FaultCrash = "crash"
)

// When a fault fires, relative to the action's state change.
const (
	// FaultAtStart fires before the action changes anything.
	FaultAtStart = "start"
	// FaultAtEnd fires after the change is made and recorded: the caller
	// sees a failure (or a hang, or a dead plugin) for an action that in
	// fact completed, the case idempotent step ids exist for.
	FaultAtEnd = "end"
)

// CrashExitCode is the exit status of a plugin process hit by a crash fault.
const CrashExitCode = 3

// Config is the provider block, decoded and checked.
type Config struct {
	// Cloud is the cloud file's path, absolute after Configure.
	Cloud       string
	Create      bool
	TimeScale   float64
	Durations   map[string]time.Duration
	Seed        int64
	LockTimeout time.Duration
	Faults      []Fault
}

// Fault is one fault block.
type Fault struct {
	// Action is an action name (migrate, upgrade, probe, …) or "*".
	Action   string
	Host     string
	Instance string
	Mode     string
	// Times caps how often it fires, across runs; 0 means always.
	Times int
	// Rate is the probability it fires on a matching call; 0 means on
	// every matching call.
	Rate float64
	At   string
	// key identifies the block's persistent counter in the cloud file.
	key string
}

// Scaled is the wall-clock time of an action kind's simulated duration.
func (c *Config) Scaled(kind string) time.Duration {
	return time.Duration(float64(c.Durations[kind]) * c.TimeScale)
}

func providerSchema() sdk.Block {
	kinds := make([]string, 0, len(DefaultDurations))
	for k := range DefaultDurations {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return sdk.Block{
		Description: "The simulated cloud: a JSON file the provider reads and changes.",
		Attributes: []sdk.Attribute{
			{Name: "cloud", Type: cty.String, Description: "Path of the cloud file, relative to the campaign directory. Default \"cloud.json\"."},
			{Name: "create", Type: cty.Bool, Description: "Create the cloud file from the built-in default cloud (8 compute hosts in az1/az2) when it does not exist. Default true."},
			{Name: "time_scale", Type: cty.Number, Description: "Factor applied to every simulated duration: 1 is real time, 0 makes actions instant. Default 0.001."},
			{Name: "durations", Type: cty.Map(cty.String), Description: "Simulated duration per action kind before time_scale, e.g. { migrate_live = \"30s\" }. Keys: " + strings.Join(kinds, ", ") + "."},
			{Name: "seed", Type: cty.Number, Description: "Seed of the random draws of faults with a rate. Default 0."},
			{Name: "lock_timeout", Type: cty.String, Description: "How long a change waits for another process's lock on the cloud before failing. Default \"1m\"."},
		},
		Blocks: []sdk.NestedBlock{{
			TypeName: "fault",
			Nesting:  sdk.NestingList,
			Block: sdk.Block{
				Description: "An injected fault: makes matching actions fail, hang or crash the plugin.",
				Attributes: []sdk.Attribute{
					{Name: "action", Type: cty.String, Required: true, Description: "Action it hits: enter_maintenance, leave_maintenance, migrate, backup, upgrade, verify, rollback, restore, probe, or \"*\" for any."},
					{Name: "host", Type: cty.String, Description: "Only actions on this host (for migrate: the instance's source host). Default: any host."},
					{Name: "instance", Type: cty.String, Description: "Only migrations of this instance id. Default: any."},
					{Name: "mode", Type: cty.String, Required: true, Description: "fail (an error), hang (block until escalator's deadline) or crash (the plugin process exits with status 3)."},
					{Name: "times", Type: cty.Number, Description: "How many times it fires in total, counted in the cloud file across runs; 0 means every time. Default 1."},
					{Name: "rate", Type: cty.Number, Description: "Probability (0 to 1) that it fires on a matching call, drawn deterministically from seed; 0 means every matching call. Default 0."},
					{Name: "at", Type: cty.String, Description: "start: before the action changes anything (default); end: after the change is made and recorded."},
				},
			},
		}},
	}
}

var ctyStringList = cty.List(cty.String)

// ctyPath is the path of a top-level attribute of the provider block.
func ctyPath(name string) cty.Path { return cty.GetAttrPath(name) }

// attr returns the named attribute of an object or map, null when absent.
func attr(v cty.Value, name string) cty.Value {
	if v.IsNull() || !v.IsKnown() {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	ty := v.Type()
	switch {
	case ty.IsObjectType():
		if ty.HasAttribute(name) {
			return v.GetAttr(name)
		}
	case ty.IsMapType():
		if v.HasIndex(cty.StringVal(name)).True() {
			return v.Index(cty.StringVal(name))
		}
	}
	return cty.NullVal(cty.DynamicPseudoType)
}

// decoder reads typed values out of a cty object, collecting diagnostics
// that point at the offending attribute.
type decoder struct {
	diags sdk.Diagnostics
}

func (d *decoder) errorf(path cty.Path, summary, format string, args ...any) {
	d.diags.AddAttributeError(path, summary, fmt.Sprintf(format, args...))
}

// set reports whether v holds a usable value; unknown values (escalator
// validate before variables are known) are skipped, not errors.
func set(v cty.Value) bool { return !v.IsNull() && v.IsKnown() }

func (d *decoder) str(v cty.Value, path cty.Path, def string) string {
	if !set(v) {
		return def
	}
	if v.Type() != cty.String {
		d.errorf(path, "Invalid value", "Want a string, got %s.", v.Type().FriendlyName())
		return def
	}
	return v.AsString()
}

func (d *decoder) boolean(v cty.Value, path cty.Path, def bool) bool {
	if !set(v) {
		return def
	}
	if v.Type() != cty.Bool {
		d.errorf(path, "Invalid value", "Want true or false, got %s.", v.Type().FriendlyName())
		return def
	}
	return v.True()
}

func (d *decoder) number(v cty.Value, path cty.Path, def float64) float64 {
	if !set(v) {
		return def
	}
	if v.Type() != cty.Number {
		d.errorf(path, "Invalid value", "Want a number, got %s.", v.Type().FriendlyName())
		return def
	}
	f, _ := v.AsBigFloat().Float64()
	return f
}

func (d *decoder) integer(v cty.Value, path cty.Path, def int64) int64 {
	if !set(v) {
		return def
	}
	if v.Type() != cty.Number {
		d.errorf(path, "Invalid value", "Want a whole number, got %s.", v.Type().FriendlyName())
		return def
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		d.errorf(path, "Invalid value", "Want a whole number, got %s.", bf.Text('g', -1))
		return def
	}
	n, acc := bf.Int64()
	if acc != big.Exact {
		d.errorf(path, "Invalid value", "%s is out of range.", bf.Text('g', -1))
		return def
	}
	return n
}

func (d *decoder) duration(v cty.Value, path cty.Path, def time.Duration) time.Duration {
	s := d.str(v, path, "")
	if s == "" {
		return def
	}
	dur, err := time.ParseDuration(s)
	if err != nil || dur < 0 {
		d.errorf(path, "Invalid duration", "%q is not a duration; write it like \"90s\", \"2m\" or \"1h30m\".", s)
		return def
	}
	return dur
}

// each iterates a list, set, tuple, map or object; nothing for null or
// unknown.
func each(v cty.Value, fn func(k, e cty.Value)) {
	if !set(v) || !v.CanIterateElements() {
		return
	}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		fn(k, e)
	}
}

// DecodeConfig checks a provider block and returns its settings. The cloud
// path is returned as written; Configure resolves it.
func DecodeConfig(v cty.Value) (*Config, sdk.Diagnostics) {
	d := &decoder{}
	p := cty.GetAttrPath
	cfg := &Config{
		Cloud:       d.str(attr(v, "cloud"), p("cloud"), DefaultCloudFile),
		Create:      d.boolean(attr(v, "create"), p("create"), true),
		TimeScale:   d.number(attr(v, "time_scale"), p("time_scale"), DefaultTimeScale),
		Seed:        d.integer(attr(v, "seed"), p("seed"), 0),
		LockTimeout: d.duration(attr(v, "lock_timeout"), p("lock_timeout"), DefaultLockTimeout),
		Durations:   make(map[string]time.Duration, len(DefaultDurations)),
	}
	if cfg.Cloud == "" {
		d.errorf(p("cloud"), "Empty cloud path", "Set cloud to the path of the cloud file, such as \"cloud.json\".")
	}
	if cfg.TimeScale < 0 || math.IsNaN(cfg.TimeScale) || math.IsInf(cfg.TimeScale, 0) {
		d.errorf(p("time_scale"), "Invalid time_scale", "time_scale must be 0 (instant) or more; 1 is real time.")
		cfg.TimeScale = DefaultTimeScale
	}
	if cfg.LockTimeout == 0 {
		cfg.LockTimeout = DefaultLockTimeout
	}
	for k, dur := range DefaultDurations {
		cfg.Durations[k] = dur
	}
	each(attr(v, "durations"), func(k, e cty.Value) {
		if !set(k) || k.Type() != cty.String {
			return
		}
		key := k.AsString()
		path := p("durations").Index(k)
		if _, ok := DefaultDurations[key]; !ok {
			d.errorf(path, "Unknown action in durations", "%q is not an action kind; use one of %s.", key, strings.Join(sortedKeys(DefaultDurations), ", "))
			return
		}
		cfg.Durations[key] = d.duration(e, path, cfg.Durations[key])
	})

	seen := map[string]int{}
	i := 0
	each(attr(v, "fault"), func(_, e cty.Value) {
		fp := p("fault").IndexInt(i)
		i++
		f := Fault{
			Action:   d.str(attr(e, "action"), fp.GetAttr("action"), ""),
			Host:     d.str(attr(e, "host"), fp.GetAttr("host"), ""),
			Instance: d.str(attr(e, "instance"), fp.GetAttr("instance"), ""),
			Mode:     d.str(attr(e, "mode"), fp.GetAttr("mode"), ""),
			Times:    int(d.integer(attr(e, "times"), fp.GetAttr("times"), 1)),
			Rate:     d.number(attr(e, "rate"), fp.GetAttr("rate"), 0),
			At:       d.str(attr(e, "at"), fp.GetAttr("at"), FaultAtStart),
		}
		if _, ok := actionByName[f.Action]; !ok && f.Action != "*" && set(attr(e, "action")) {
			d.errorf(fp.GetAttr("action"), "Unknown action", "%q is not an action; use one of %s, or \"*\" for any.", f.Action, strings.Join(actionNames(), ", "))
		}
		switch f.Mode {
		case FaultFail, FaultHang, FaultCrash:
		default:
			if set(attr(e, "mode")) {
				d.errorf(fp.GetAttr("mode"), "Unknown fault mode", "%q is not a fault mode; use \"fail\", \"hang\" or \"crash\".", f.Mode)
			}
		}
		if f.Times < 0 {
			d.errorf(fp.GetAttr("times"), "Invalid times", "times must be 0 (every time) or more.")
		}
		if f.Rate < 0 || f.Rate > 1 || math.IsNaN(f.Rate) {
			d.errorf(fp.GetAttr("rate"), "Invalid rate", "rate is a probability between 0 and 1; 0 means every matching call.")
		}
		if f.At != FaultAtStart && f.At != FaultAtEnd {
			d.errorf(fp.GetAttr("at"), "Invalid at", "%q: use \"start\" (before the action changes anything) or \"end\" (after).", f.At)
		}
		// The counter key is the block's content, so it survives blocks
		// being reordered; identical blocks are told apart by occurrence.
		base := fmt.Sprintf("%s|%s|%s|%s|%s|times=%d|rate=%g", f.Action, f.Host, f.Instance, f.Mode, f.At, f.Times, f.Rate)
		seen[base]++
		f.key = fmt.Sprintf("%s#%d", base, seen[base])
		cfg.Faults = append(cfg.Faults, f)
	})
	return cfg, d.diags
}

// Settings are a component's provider-specific settings.
type Settings struct {
	Disruption sdk.Disruption
	// RequiresEmptyHost refuses upgrade, rollback and restore while
	// instances run on the host.
	RequiresEmptyHost bool
	// MaxMajorJump is how many major versions one upgrade may cross.
	MaxMajorJump int
	Packages     []string
}

// hostDisruptive are the components whose upgrade restarts the instances'
// hypervisor or the host itself.
var hostDisruptive = map[string]bool{"qemu": true, "kernel": true, "libvirt": true}

var disruptionNames = map[string]sdk.Disruption{
	"none":    sdk.DisruptionNone,
	"service": sdk.DisruptionService,
	"host":    sdk.DisruptionHost,
}

// DecodeSettings reads a component's settings. Without a `disruption`,
// qemu, kernel and libvirt disrupt the host and everything else a service;
// requires_empty_host defaults to true exactly when the disruption is host.
func DecodeSettings(component string, v cty.Value) (Settings, sdk.Diagnostics) {
	d := &decoder{}
	p := cty.GetAttrPath
	s := Settings{Disruption: sdk.DisruptionService, MaxMajorJump: 1}
	if hostDisruptive[component] {
		s.Disruption = sdk.DisruptionHost
	}
	if name := d.str(attr(v, "disruption"), p("disruption"), ""); name != "" {
		if dis, ok := disruptionNames[name]; ok {
			s.Disruption = dis
		} else {
			d.errorf(p("disruption"), "Invalid disruption", "%q: use \"none\", \"service\" or \"host\".", name)
		}
	}
	s.RequiresEmptyHost = d.boolean(attr(v, "requires_empty_host"), p("requires_empty_host"), s.Disruption == sdk.DisruptionHost)
	s.MaxMajorJump = int(d.integer(attr(v, "max_major_jump"), p("max_major_jump"), 1))
	if s.MaxMajorJump < 0 {
		d.errorf(p("max_major_jump"), "Invalid max_major_jump", "max_major_jump must be 0 or more.")
	}
	each(attr(v, "packages"), func(_, e cty.Value) {
		if set(e) && e.Type() == cty.String {
			s.Packages = append(s.Packages, e.AsString())
		}
	})
	return s, d.diags
}

func componentSchema() sdk.Block {
	return sdk.Block{
		Description: "Settings of a component managed by the sim provider.",
		Attributes: []sdk.Attribute{
			{Name: "disruption", Type: cty.String, Description: "none, service or host. Default: host for qemu, kernel and libvirt, service for anything else."},
			{Name: "requires_empty_host", Type: cty.Bool, Description: "Refuse upgrade, rollback and restore while ACTIVE or PAUSED instances (or migrations) remain on the host. Default: true when the disruption is host."},
			{Name: "max_major_jump", Type: cty.Number, Description: "How many major versions one upgrade may cross; a larger jump is refused at plan time. Default 1."},
			{Name: "packages", Type: cty.List(cty.String), Description: "Packages the component consists of. Informational: shown in progress messages."},
		},
	}
}
