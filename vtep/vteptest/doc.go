// Package vteptest provides in-memory implementations of vtep.Bind for
// tests, like wireguard-go's conn/bindtest: a Fabric of ChannelBinds that
// deliver VXLAN datagrams (RFC 7348) to each other by fake underlay
// address, so whole switches can be tested end to end without sockets or
// root.
package vteptest
