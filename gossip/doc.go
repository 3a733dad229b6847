// Package gossip is vxswitch's control plane: a SWIM membership
// (hashicorp/memberlist, "SWIM: Scalable Weakly-consistent Infection-style
// Process Group Membership Protocol", Das et al. 2002, with Lifeguard) over
// which every vxswitchd announces its VTEP address and the VNIs it serves,
// and distributes the MACs of its local ports and the IP↔MAC bindings seen
// on them, so that head-end replication lists (RFC 7348 §4.2) and FDB
// entries follow membership without static peer lists.
//
// A Node implements memberlist.Delegate and memberlist.EventDelegate. Each
// FDB change is a small named broadcast ("<vni>/<mac>"), so a newer
// version replaces a queued older one. A member greets each new member
// with its own entries over memberlist's reliable channel (Node.greet),
// because broadcasts are retransmitted a limited number of times to random
// members and, when nodes join together, are spent before the joiners
// know each other. A member greeted by a member it has not greeted for a
// while greets it back (Node.greetBack): that is a member which had
// wrongly declared it dead, purged its entries and now sees it alive
// again. Push/pull anti-entropy repairs what broadcasts missed. Every
// entry carries its owner node, the owner's
// incarnation (its start time) and a version (a hybrid logical clock), so
// the newest announcement of a MAC wins and a restarted node's old entries
// are purged. The wire formats (meta.go, wire.go) are versioned, decoded
// strictly, and fuzzed.
package gossip
