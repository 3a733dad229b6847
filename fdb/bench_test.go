package fdb

import "testing"

// benchTable returns a table holding n learned MACs in VNI 1, on the real
// clock as in production.
func benchTable(b *testing.B, n int) *Table {
	b.Helper()
	tb := New(Config{MaxLearnedPerVNI: -1})
	for i := range n {
		if r := tb.Learn(1, macN(i+1), Dest{Remote: remoteA}); r != LearnAdded {
			b.Fatalf("setup: Learn: %v", r)
		}
	}
	tb.AddFlood(1, remoteA)
	tb.AddFlood(1, remoteB)
	return tb
}

func BenchmarkLookup(b *testing.B) {
	tb := benchTable(b, 4096)
	b.Run("hit", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok := tb.Lookup(1, macN(1+i&4095)); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok := tb.Lookup(2, macN(1+i&4095)); ok {
				b.Fatal("hit")
			}
		}
	})
}

func BenchmarkLookupParallel(b *testing.B) {
	tb := benchTable(b, 4096)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			tb.Lookup(1, macN(1+i&4095))
			i++
		}
	})
}

func BenchmarkLearnRefresh(b *testing.B) {
	tb := benchTable(b, 4096)
	d := Dest{Remote: remoteA}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if r := tb.Learn(1, macN(1+i&4095), d); r != LearnRefreshed {
			b.Fatalf("unexpected Learn result: %v", r)
		}
	}
}

func BenchmarkLearnRefreshParallel(b *testing.B) {
	tb := benchTable(b, 4096)
	d := Dest{Remote: remoteA}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			tb.Learn(1, macN(1+i&4095), d)
			i++
		}
	})
}

// BenchmarkLearnMove is the write-locked slow path: the MAC alternates
// between two VTEPs.
func BenchmarkLearnMove(b *testing.B) {
	tb := benchTable(b, 1)
	ds := [2]Dest{{Remote: remoteA}, {Remote: remoteB}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tb.Learn(1, macN(1), ds[i&1])
	}
}

func BenchmarkFlood(b *testing.B) {
	tb := benchTable(b, 1)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n += len(tb.Flood(1))
	}
	if n == 0 {
		b.Fatal("empty flood list")
	}
}
