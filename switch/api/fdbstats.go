package api

import "github.com/vxswitch/vxswitch/fdb"

// fdbStats converts the table's counters to their API form.
func fdbStats(st fdb.Stats) FDBStats {
	return FDBStats{
		Entries:              st.Entries,
		Learned:              st.Learned,
		LearnRejectedCap:     st.LearnRejectedCap,
		LearnRejectedMAC:     st.LearnRejectedMAC,
		LearnRejectedInvalid: st.LearnRejectedInvalid,
		Moves:                st.Moves,
		Aged:                 st.Aged,
	}
}
