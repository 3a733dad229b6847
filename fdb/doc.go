// Package fdb implements the forwarding database of a VXLAN switch
// (RFC 7348 §4): per VXLAN segment (VNI), a table from inner MAC address to
// where that MAC lives, either a local port or a remote VTEP, plus the
// head-end replication ("flood") list of each segment.
//
// RFC 7348 §4.1 describes the learning rule this package implements:
//
//	"the VTEP would learn the mapping from the inner source MAC address to
//	the outer source IP address. It stores this mapping in a table so that
//	when the destination VM sends a response packet, there is no need for
//	an 'unknown destination' flooding of the response packet."
//
// Entries have an Origin. Learned entries come from traffic, expire after
// Config.Ageing of idleness (300 s by default, like the Linux vxlan
// driver), are capped per VNI (Config.MaxLearnedPerVNI) and move when their
// MAC shows up behind another Dest. Local, static and gossip entries are
// owned by the control plane: they never age and learning never moves
// them. Multicast, broadcast and all-zeros source MACs are never learned.
//
// The flood list of a VNI corresponds to the all-zeros FDB entries of the
// Linux vxlan driver (`bridge fdb append 00:00:00:00:00:00 dev vx0 dst X`):
// BUM traffic of the VNI is replicated to every address in it.
//
// Concurrency: a Table is safe for concurrent use. It is read-mostly:
// Lookup and the common case of Learn (a known MAC seen behind the same
// Dest) take only a read lock on one of several shards and allocate
// nothing; Flood is lock-free. Only adds, moves and deletions take a write
// lock.
package fdb
