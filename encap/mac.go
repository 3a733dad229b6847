package encap

import (
	"errors"
	"fmt"
	"net"
)

// MAC is an IEEE 802 MAC-48 address. It is a comparable value, so it can be
// used directly as (part of) a map key without string conversions.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ErrInvalidMAC is returned by ParseMAC for anything that is not a 48-bit
// MAC address written as six colon- or hyphen-separated hex octets.
var ErrInvalidMAC = errors.New("encap: invalid MAC address")

// ParseMAC parses a MAC-48 address such as "02:00:00:00:00:01".
func ParseMAC(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return MAC{}, fmt.Errorf("%w: %q", ErrInvalidMAC, s)
	}
	var m MAC
	copy(m[:], hw)
	return m, nil
}

// MustParseMAC is ParseMAC for tests and constants; it panics on error.
func MustParseMAC(s string) MAC {
	m, err := ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// String returns the address as lower-case "aa:bb:cc:dd:ee:ff".
func (m MAC) String() string {
	const hexDigits = "0123456789abcdef"
	var b [17]byte
	for i, o := range m {
		b[i*3] = hexDigits[o>>4]
		b[i*3+1] = hexDigits[o&0x0f]
		if i < 5 {
			b[i*3+2] = ':'
		}
	}
	return string(b[:])
}

// MarshalText implements encoding.TextMarshaler (JSON writes it as a string).
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *MAC) UnmarshalText(b []byte) error {
	p, err := ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = p
	return nil
}

// IsMulticast reports whether the I/G bit is set (IEEE 802-2014 §8.2).
// The broadcast address is a multicast address.
func (m MAC) IsMulticast() bool { return m[0]&0x01 != 0 }

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == BroadcastMAC }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// IsUnicast reports whether m is a non-zero individual (unicast) address,
// the only kind of source address a switch may learn.
func (m MAC) IsUnicast() bool { return !m.IsMulticast() && !m.IsZero() }

// HardwareAddr returns m as a freshly allocated net.HardwareAddr.
func (m MAC) HardwareAddr() net.HardwareAddr { return net.HardwareAddr(append([]byte(nil), m[:]...)) }
