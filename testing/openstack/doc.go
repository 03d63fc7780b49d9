// Package openstack starts a real OpenStack (Debian 12's Zed: Keystone,
// Placement, Nova, Glance, Neutron API) on 127.0.0.1 for end-to-end tests:
// MariaDB and RabbitMQ of its own, the APIs under uwsgi or eventlet, and
// any number of nova-compute processes with Nova's fake live-migration
// driver, split into availability zones. Every daemon runs in its own
// session with a pid file and a log in one state directory, and Stop
// leaves nothing running.
//
//	env, err := openstack.Start(ctx, openstack.Options{Dir: dir, Computes: 6, Zones: 2})
//	defer env.Stop(ctx)
//
// install.sh installs what it needs (root, once); cmd/osenv does the same
// by hand. website/docs/testing-openstack.md describes the environment.
package openstack
