//go:build !amd64 || purego

package encap

// useAVX2 is false off amd64: Checksum uses its portable loop only.
const useAVX2 = false

func sumWordsAVX2([]byte) uint64 { panic("unreachable") }

func copySumWordsAVX2(_, _ []byte) uint64 { panic("unreachable") }
