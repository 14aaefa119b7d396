//go:build linux

package nspawn

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/hashicorp/go-multierror"
)

// network is the host side of a backend's machines: one bridge holding the
// gateway address of the backend's own /24.
type network struct {
	bridge  string
	subnet  string // "10.213.X.0/24"
	base    net.IP // 10.213.X.0
	gateway string // 10.213.X.1: the host, where the apt proxy listens
}

// subnetPool is where automatically chosen /24s come from; each backend
// takes one no host interface and no live backend uses.
const subnetPool = "10.213.%d.0/24"

// setupNetwork picks a free /24 (under a host-wide lock, so two backends
// starting at once cannot both take the same one) and makes the bridge.
func setupNetwork(ctx context.Context, prefix, want, runDir string) (*network, error) {
	unlock, err := flock(ctx, filepath.Join(registryDir, "subnet.lock"), true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	used, err := usedSubnets()
	if err != nil {
		return nil, err
	}
	subnet := want
	if subnet == "" {
		for x := 1; x < 255; x++ {
			s := fmt.Sprintf(subnetPool, x)
			if !used[s] {
				subnet = s
				break
			}
		}
		if subnet == "" {
			return nil, fmt.Errorf("no free /24 left in %s: stop other local clouds or pass Options.Subnet", fmt.Sprintf(subnetPool, 0))
		}
	}
	ip, ipnet, err := net.ParseCIDR(subnet)
	if err != nil || ip.To4() == nil {
		return nil, fmt.Errorf("subnet %q: want an IPv4 /24 such as 10.213.7.0/24", want)
	}
	if ones, _ := ipnet.Mask.Size(); ones != 24 {
		return nil, fmt.Errorf("subnet %q: want a /24", want)
	}
	subnet = ipnet.String()
	if want != "" && used[subnet] {
		return nil, fmt.Errorf("subnet %s is already used by a host interface or another local cloud: pick another or leave Options.Subnet empty", subnet)
	}
	base := ipnet.IP.To4()
	n := &network{bridge: prefix + "br", subnet: subnet, base: base, gateway: hostIP(base, 1)}
	// Record the subnet before the bridge exists, so a killed run's bridge is
	// found by CleanupStale and the /24 stays claimed meanwhile.
	if err := updateRegistry(runDir, func(e *registryEntry) { e.Subnet = subnet }); err != nil {
		return nil, err
	}
	steps := [][]string{
		{"link", "add", n.bridge, "type", "bridge"},
		{"addr", "add", n.gateway + "/24", "dev", n.bridge},
		{"link", "set", n.bridge, "up"},
	}
	for _, s := range steps {
		if err := run(ctx, "ip", s...); err != nil {
			_ = n.teardown()
			return nil, fmt.Errorf("create bridge %s: %w", n.bridge, err)
		}
	}
	return n, nil
}

// usedSubnets lists the /24s host interfaces or live backends occupy.
func usedSubnets() (map[string]bool, error) {
	used := map[string]bool{}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}
	for _, i := range ifs {
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				n := &net.IPNet{IP: ipn.IP.To4().Mask(net.CIDRMask(24, 32)), Mask: net.CIDRMask(24, 32)}
				used[n.String()] = true
			}
		}
	}
	for _, e := range liveEntries() {
		if e.Subnet != "" {
			used[e.Subnet] = true
		}
	}
	return used, nil
}

func hostIP(base net.IP, host int) string {
	ip := make(net.IP, 4)
	copy(ip, base.To4())
	ip[3] = byte(host)
	return ip.String()
}

// addMachine gives a machine its own network namespace, with eth0 holding
// addr and a veth peer plugged into the bridge.
func (n *network) addMachine(ctx context.Context, netns, veth, addr string) error {
	steps := [][]string{
		{"netns", "add", netns},
		{"link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns},
		{"link", "set", veth, "master", n.bridge, "up"},
		{"-n", netns, "link", "set", "lo", "up"},
		{"-n", netns, "addr", "add", addr + "/24", "dev", "eth0"},
		{"-n", netns, "link", "set", "eth0", "up"},
		{"-n", netns, "route", "add", "default", "via", n.gateway},
	}
	for _, s := range steps {
		if err := run(ctx, "ip", s...); err != nil {
			_ = n.removeMachine(context.WithoutCancel(ctx), netns, veth)
			return fmt.Errorf("network for machine %s: %w", netns, err)
		}
	}
	return nil
}

func (n *network) removeMachine(ctx context.Context, netns, veth string) error {
	var errs *multierror.Error
	if linkExists(ctx, veth) {
		if err := run(ctx, "ip", "link", "delete", veth); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	if _, err := output(ctx, "ip", "netns", "pids", netns); err == nil {
		if err := run(ctx, "ip", "netns", "delete", netns); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	return errs.ErrorOrNil()
}

func (n *network) teardown() error {
	ctx := context.Background()
	if linkExists(ctx, n.bridge) {
		if err := run(ctx, "ip", "link", "delete", n.bridge); err != nil {
			return fmt.Errorf("remove bridge: %w", err)
		}
	}
	return nil
}

func vethName(prefix string, host int) string { return prefix + "h" + strconv.Itoa(host) }
