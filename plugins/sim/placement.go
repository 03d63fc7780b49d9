package sim

// placements indexes the instances by the hosts they use: the host they
// run on and the destination of a migration in flight. A Store keeps one
// for its cloud, so the checks of a migration (free capacity on the
// destination) and of an upgrade (is the host empty) look at a host's
// twenty instances, not at the cloud's two hundred thousand. It is
// updated for every instance a transaction marks as changed; a cloud
// changed in unknown ways drops it, and it is built again when next
// needed.
type placements struct {
	counted map[*Instance]placed
	by      map[string]map[*Instance]struct{}
}

// placed is where an instance was counted.
type placed struct{ host, to string }

func placeOf(in *Instance) placed {
	p := placed{host: in.Host}
	if in.Migration != nil && in.Migration.To != in.Host {
		p.to = in.Migration.To
	}
	return p
}

// trackPlacements makes the cloud keep a placement index from now on.
func (c *Cloud) trackPlacements() {
	c.tracked = true
	c.place = nil
}

// placements returns the index, building it if needed; nil when the cloud
// keeps none.
func (c *Cloud) placements() *placements {
	if !c.tracked {
		return nil
	}
	if c.place == nil {
		p := &placements{counted: make(map[*Instance]placed, len(c.Instances)), by: make(map[string]map[*Instance]struct{}, len(c.Hosts))}
		for _, in := range c.Instances {
			p.add(in)
		}
		c.place = p
	}
	return c.place
}

func (p *placements) add(in *Instance) {
	at := placeOf(in)
	p.counted[in] = at
	for _, h := range []string{at.host, at.to} {
		if h == "" {
			continue
		}
		set := p.by[h]
		if set == nil {
			set = map[*Instance]struct{}{}
			p.by[h] = set
		}
		set[in] = struct{}{}
	}
}

func (p *placements) remove(in *Instance) {
	at, ok := p.counted[in]
	if !ok {
		return
	}
	delete(p.counted, in)
	for _, h := range []string{at.host, at.to} {
		if h != "" {
			delete(p.by[h], in)
		}
	}
}

// moved updates the index for an instance whose host or migration may
// have changed.
func (c *Cloud) moved(in *Instance) {
	if c.place == nil {
		return
	}
	if c.place.counted[in] == placeOf(in) {
		return
	}
	c.place.remove(in)
	c.place.add(in)
}

// instancesAt calls fn for each instance on host or migrating to it, in
// no particular order.
func (c *Cloud) instancesAt(host string, fn func(in *Instance)) {
	if p := c.placements(); p != nil {
		for in := range p.by[host] {
			fn(in)
		}
		return
	}
	for _, in := range c.Instances {
		if in.Host == host || (in.Migration != nil && in.Migration.To == host) {
			fn(in)
		}
	}
}
