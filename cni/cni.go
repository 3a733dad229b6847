package cni

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/vxswitch/vxswitch/switch/api"
)

// Timeout bounds one plugin invocation's calls to the daemon and IPAM.
var Timeout = 30 * time.Second

// daemonError turns a Client error into a CNI error: unreachable → 11
// (try again later), 400 → 7, 404 (netns) → 8, anything else → 999.
func daemonError(verb, socket string, err error) *types.Error {
	var ae *api.Error
	if !errors.As(err, &ae) {
		return types.NewError(types.ErrTryAgainLater,
			fmt.Sprintf("vxswitch: %s: vxswitchd is not reachable at %s; is it running (DaemonSet vxswitch, or systemctl status vxswitchd)?", verb, socket),
			err.Error())
	}
	code := uint(types.ErrInternal)
	switch ae.StatusCode {
	case 400:
		code = types.ErrInvalidNetworkConfig
	case 404:
		code = types.ErrInvalidNetNS
	}
	return types.NewError(code, fmt.Sprintf("vxswitch: %s: vxswitchd refused: %s", verb, ae.Message), "")
}

// Add implements CNI ADD: port from the daemon, IPAM, addresses and
// routes, masquerade; every step undone if a later one fails.
func Add(args *skel.CmdArgs) (err error) {
	conf, err := LoadConf(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	if args.Netns == "" {
		return types.NewError(types.ErrInvalidEnvironmentVariables, "vxswitch: CNI_NETNS is empty", "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	c := api.NewClient(conf.Socket)
	att, err := c.Attach(ctx, api.AttachRequest{
		ContainerID: args.ContainerID, IfName: args.IfName, Netns: args.Netns, Network: conf.Name,
		VNI: *conf.VNI, MAC: conf.mac, MTU: conf.MTU,
	})
	if err != nil {
		return daemonError("ADD", conf.Socket, err)
	}
	defer func() {
		if err != nil {
			// Fresh context: ctx may be what failed.
			dctx, dcancel := context.WithTimeout(context.Background(), Timeout)
			defer dcancel()
			c.Detach(dctx, args.ContainerID, args.IfName)
		}
	}()

	r, err := invoke.DelegateAdd(ctx, conf.IPAM.Type, args.StdinData, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			invoke.DelegateDel(context.Background(), conf.IPAM.Type, args.StdinData, nil)
		}
	}()
	ipam, err := current.NewResultFromResult(r)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, "vxswitch: IPAM result", err.Error())
	}
	if len(ipam.IPs) == 0 {
		return types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf("vxswitch: IPAM plugin %s returned no addresses", conf.IPAM.Type), "")
	}
	result := &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{{Name: args.IfName, Mac: att.MAC.String(), Mtu: att.MTU, Sandbox: args.Netns}},
		Routes:     ipam.Routes,
		DNS:        ipam.DNS,
	}
	if conf.DNS.Nameservers != nil || conf.DNS.Search != nil {
		result.DNS = conf.DNS
	}
	for _, ip := range ipam.IPs {
		ip.Interface = current.Int(0)
		result.IPs = append(result.IPs, ip)
	}
	result.Routes = withDefaultRoutes(conf, result)

	if err := inNetns(args.Netns, func() error { return configure(args.IfName, result) }); err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("vxswitch: configure %s in %s", args.IfName, args.Netns), err.Error())
	}
	if conf.IPMasq {
		if err := setupMasq(conf.Name, args.ContainerID, result.IPs); err != nil {
			return types.NewError(types.ErrInternal, "vxswitch: ipMasq", err.Error())
		}
	}
	return types.PrintResult(result, conf.CNIVersion)
}

// gatewayFor returns the gateway for ip's family: conf.gateway, else the
// IPAM result's gateway for that address, else nil.
func gatewayFor(conf *NetConf, ip *current.IPConfig) net.IP {
	is4 := ip.Address.IP.To4() != nil
	if conf.gateway.IsValid() && conf.gateway.Is4() == is4 {
		return net.IP(conf.gateway.AsSlice())
	}
	return ip.Gateway
}

// withDefaultRoutes adds a default route via the gateway for each family
// that has an address and a gateway but no default route yet.
func withDefaultRoutes(conf *NetConf, r *current.Result) []*types.Route {
	routes := slices.Clone(r.Routes)
	for _, ip := range r.IPs {
		gw := gatewayFor(conf, ip)
		if gw == nil {
			continue
		}
		is4 := ip.Address.IP.To4() != nil
		has := slices.ContainsFunc(routes, func(rt *types.Route) bool {
			ones, _ := rt.Dst.Mask.Size()
			return ones == 0 && (rt.Dst.IP.To4() != nil) == is4
		})
		if has {
			continue
		}
		dst := net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
		if !is4 {
			dst = net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
		}
		routes = append(routes, &types.Route{Dst: dst, GW: gw})
	}
	return routes
}

// configure puts the result's addresses and routes on dev; it runs inside
// the Pod's netns. A route without a gateway uses the default gateway of
// its family when it leaves the subnet.
func configure(dev string, r *current.Result) error {
	for _, ip := range r.IPs {
		if _, err := ipCmd("addr", "add", ip.Address.String(), "dev", dev); err != nil {
			return err
		}
	}
	for _, rt := range r.Routes {
		args := []string{"route", "replace", rt.Dst.String()}
		if rt.GW != nil {
			args = append(args, "via", rt.GW.String())
		}
		args = append(args, "dev", dev)
		if _, err := ipCmd(args...); err != nil {
			return err
		}
	}
	return nil
}

// Del implements CNI DEL. It succeeds when the lease, the rules, the port
// or the netns are gone already, and when the daemon is unreachable (the
// TAP dies with the netns; the daemon forgets ports whose netns is gone).
func Del(args *skel.CmdArgs) error {
	conf, err := LoadConf(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := invoke.DelegateDel(ctx, conf.IPAM.Type, args.StdinData, nil); err != nil {
		return err
	}
	if conf.IPMasq {
		if err := teardownMasq(conf.Name, args.ContainerID); err != nil {
			return types.NewError(types.ErrInternal, "vxswitch: ipMasq teardown", err.Error())
		}
	}
	c := api.NewClient(conf.Socket)
	if err := c.Detach(ctx, args.ContainerID, args.IfName); err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			return daemonError("DEL", conf.Socket, err)
		}
		// Unreachable: nothing to undo that the netns deletion does not.
	}
	return nil
}

// Check implements CNI CHECK against prevResult: the daemon's port (VNI,
// MAC, attached), the interface in the netns (MAC, MTU, up), addresses and
// routes, then the IPAM plugin's CHECK.
func Check(args *skel.CmdArgs) error {
	conf, err := LoadConf(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	if err := version.ParsePrevResult(&conf.PluginConf); err != nil {
		return types.NewError(types.ErrDecodingFailure, "vxswitch: CHECK: prevResult", err.Error())
	}
	if conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "vxswitch: CHECK: no prevResult", "")
	}
	prev, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, "vxswitch: CHECK: prevResult", err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	atts, err := api.NewClient(conf.Socket).Attachments(ctx)
	if err != nil {
		return daemonError("CHECK", conf.Socket, err)
	}
	i := slices.IndexFunc(atts, func(a api.Attachment) bool {
		return a.ContainerID == args.ContainerID && a.IfName == args.IfName
	})
	if i < 0 {
		return checkFailed("vxswitchd has no port for container %s interface %s", args.ContainerID, args.IfName)
	}
	att := atts[i]
	switch {
	case !att.Attached:
		return checkFailed("port %s is recorded but not attached to the switch (see the vxswitchd log)", att.Port)
	case att.VNI != *conf.VNI:
		return checkFailed("port %s is on VNI %d, the network wants VNI %d", att.Port, att.VNI, *conf.VNI)
	case att.Netns != args.Netns:
		return checkFailed("port %s is in %s, not %s", att.Port, att.Netns, args.Netns)
	}
	var iface *current.Interface
	for _, in := range prev.Interfaces {
		if in.Name == args.IfName && in.Sandbox == args.Netns {
			iface = in
		}
	}
	if iface == nil {
		return checkFailed("prevResult has no interface %s in %s", args.IfName, args.Netns)
	}
	if iface.Mac != att.MAC.String() {
		return checkFailed("interface %s: prevResult MAC %s, daemon port MAC %s", args.IfName, iface.Mac, att.MAC)
	}
	err = inNetns(args.Netns, func() error { return checkNetns(args.IfName, iface, prev) })
	if err != nil {
		var te *types.Error
		if errors.As(err, &te) {
			return te
		}
		return checkFailed("%v", err)
	}
	return invoke.DelegateCheck(ctx, conf.IPAM.Type, args.StdinData, nil)
}

func checkFailed(format string, args ...any) *types.Error {
	return types.NewError(types.ErrInternal, "vxswitch: CHECK failed: "+fmt.Sprintf(format, args...), "")
}

func checkNetns(dev string, iface *current.Interface, prev *current.Result) error {
	ifc, err := net.InterfaceByName(dev)
	if err != nil {
		return checkFailed("interface %s: %v", dev, err)
	}
	if ifc.HardwareAddr.String() != iface.Mac {
		return checkFailed("interface %s has MAC %s, want %s", dev, ifc.HardwareAddr, iface.Mac)
	}
	if iface.Mtu != 0 && ifc.MTU != iface.Mtu {
		return checkFailed("interface %s has MTU %d, want %d", dev, ifc.MTU, iface.Mtu)
	}
	if ifc.Flags&net.FlagUp == 0 {
		return checkFailed("interface %s is down", dev)
	}
	addrs, err := linkAddrs(dev)
	if err != nil {
		return err
	}
	for _, ip := range prev.IPs {
		if !slices.Contains(addrs, ip.Address.String()) {
			return checkFailed("interface %s lacks address %s (has %v)", dev, ip.Address.String(), addrs)
		}
	}
	for _, rt := range prev.Routes {
		family := "-4"
		if rt.Dst.IP.To4() == nil {
			family = "-6"
		}
		rs, err := linkRoutes(family, dev)
		if err != nil {
			return err
		}
		ok := slices.ContainsFunc(rs, func(r ipRoute) bool {
			return sameNet(r.Dst, rt.Dst.String()) && (rt.GW == nil || r.Gateway == rt.GW.String())
		})
		if !ok {
			return checkFailed("interface %s: route %s via %v missing", dev, rt.Dst.String(), rt.GW)
		}
	}
	return nil
}

// Status implements CNI STATUS: code 50 while the daemon is unreachable,
// then the IPAM plugin's STATUS.
func Status(args *skel.CmdArgs) error {
	conf, err := LoadConf(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if _, err := api.NewClient(conf.Socket).Status(ctx); err != nil {
		return types.NewError(types.ErrPluginNotAvailable,
			fmt.Sprintf("vxswitch: not ready: vxswitchd does not answer at %s", conf.Socket), err.Error())
	}
	return invoke.DelegateStatus(ctx, conf.IPAM.Type, args.StdinData, nil)
}

// GC implements CNI GC: it detaches this network's ports that are not in
// cni.dev/valid-attachments, then delegates GC to the IPAM plugin, which
// releases their leases.
func GC(args *skel.CmdArgs) error {
	conf, err := LoadConf(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	c := api.NewClient(conf.Socket)
	atts, err := c.Attachments(ctx)
	if err != nil {
		return daemonError("GC", conf.Socket, err)
	}
	valid := map[types.GCAttachment]bool{}
	for _, v := range conf.ValidAttachments {
		valid[v] = true
	}
	var errs []error
	for _, a := range atts {
		if a.Network != conf.Name || valid[types.GCAttachment{ContainerID: a.ContainerID, IfName: a.IfName}] {
			continue
		}
		if err := c.Detach(ctx, a.ContainerID, a.IfName); err != nil {
			errs = append(errs, err)
		}
		if conf.IPMasq {
			if err := teardownMasq(conf.Name, a.ContainerID); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return types.NewError(types.ErrInternal, "vxswitch: GC", err.Error())
	}
	return invoke.DelegateGC(ctx, conf.IPAM.Type, args.StdinData, nil)
}
