// Package taptest provides ChannelTAP, an in-memory tap.Device for tests
// that need no root: frames a test sends on Inbound come out of Read, and
// frames written with Write arrive, copied, on Outbound. It plays the role
// of wireguard-go's tun/tuntest.ChannelTUN for the Ethernet (TAP, IEEE
// 802.3 frame) ports of vxswitch.
package taptest
