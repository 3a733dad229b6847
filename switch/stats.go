package vswitch

// PortStats are one port's counters. rx counts frames the switch read from
// the port, tx frames it wrote to it.
type PortStats struct {
	Name      string `json:"name"`
	VNI       uint32 `json:"vni"`
	MTU       int    `json:"mtu"`
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
}

// VNIStats are one VNI's underlay counters: rx counts VXLAN packets received
// for the VNI (accepted by header checks), tx VXLAN packets sent (each
// head-end replicated copy counts once). Bytes are UDP payload bytes
// (VXLAN header and inner frame).
type VNIStats struct {
	VNI       uint32 `json:"vni"`
	Ports     int    `json:"ports"`
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
}

// Stats is a snapshot of every counter of the switch.
type Stats struct {
	Ports []PortStats `json:"ports"`
	VNIs  []VNIStats  `json:"vnis"`
	// Drops has one key per DropReason (its String), zero counts included.
	Drops map[string]uint64 `json:"drops"`
	// ReservedBitsAccepted counts VXLAN packets with reserved bits set that
	// were accepted because Config.Strict is off.
	ReservedBitsAccepted uint64 `json:"reserved_bits_accepted"`
	// BusyPoll counts the single loop's busy polls (Config.BusyPoll): Hits
	// found traffic without a wait, Misses ran out and the loop waited.
	BusyPoll BusyPollStats `json:"busy_poll"`
	// RTEngaged counts the single loop's turns to real-time scheduling
	// (Config.RTPriority): each time it fell behind while at normal
	// priority; once with RTPriorityFixed.
	RTEngaged uint64 `json:"rt_engaged"`
	// GatheredSegments counts segments of TSO super-frames sent gathered
	// (their headers and a slice of the super-frame, Config.Gather). The
	// first segment of each is not included: it is split by copying and
	// switched like any frame.
	GatheredSegments uint64 `json:"gathered_segments"`
}

// BusyPollStats are the busy-poll counters of Stats.
type BusyPollStats struct {
	Hits   uint64 `json:"hits"`
	Misses uint64 `json:"misses"`
}

// Drops returns the count of one drop reason.
func (sw *Switch) Drops(r DropReason) uint64 {
	if r >= numDropReasons {
		return 0
	}
	return sw.drops.d[r].Load()
}

// Stats returns a snapshot of the switch's counters. Counters are read one
// by one, so a snapshot taken under traffic is not atomic as a whole.
func (sw *Switch) Stats() Stats {
	t := sw.topo.Load()
	st := Stats{
		Ports:                []PortStats{},
		VNIs:                 []VNIStats{},
		Drops:                make(map[string]uint64, numDropReasons),
		ReservedBitsAccepted: sw.reservedBitsAccepted.Load(),
		BusyPoll:             BusyPollStats{Hits: sw.busyPollHits.Load(), Misses: sw.busyPollMisses.Load()},
		GatheredSegments:     sw.gathered.Load(),
		RTEngaged:            sw.rtEngaged.Load(),
	}
	for _, p := range sw.Ports() {
		st.Ports = append(st.Ports, PortStats{
			Name: p.name, VNI: p.vni, MTU: p.mtu,
			RxPackets: p.rxPackets.Load(), RxBytes: p.rxBytes.Load(),
			TxPackets: p.txPackets.Load(), TxBytes: p.txBytes.Load(),
		})
	}
	for _, vni := range sw.VNIs() {
		vs := t.vnis[vni]
		if vs == nil { // served since t was loaded; VNIs() saw a newer topology
			continue
		}
		st.VNIs = append(st.VNIs, VNIStats{
			VNI: vni, Ports: len(vs.ports),
			RxPackets: vs.c.rxPackets.Load(), RxBytes: vs.c.rxBytes.Load(),
			TxPackets: vs.c.txPackets.Load(), TxBytes: vs.c.txBytes.Load(),
		})
	}
	for _, r := range DropReasons() {
		st.Drops[r.String()] = sw.drops.d[r].Load()
	}
	if b, ok := sw.bind.(interface{ ReceiveDrops() uint64 }); ok {
		st.Drops[DropReceiveOverflow.String()] += b.ReceiveDrops()
	}
	for _, p := range sw.Ports() {
		st.Drops[DropPortOverflow.String()] += p.kernelDrops()
	}
	return st
}
