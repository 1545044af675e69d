package stack

import "net/netip"

// invalidSource reports whether a datagram from src must be discarded
// whatever it carries. RFC 1122 3.2.1.3: "A host MUST silently discard an
// incoming datagram containing an IP source address that is invalid by
// the rules of this section", and RFC 9293 3.9.2.3 (MUST-63) for SYNs in
// particular. Invalid as a source: limited broadcast and multicast (also
// RFC 1122 4.2.3.10), class E (RFC 1122 3.2.2 counts it with the addresses
// that do not "define a single host"), { 0, <any> } (only while a host
// learns its own address, 3.2.1.3 (a)/(b)) and { 127, <any> } ("MUST NOT
// appear outside a host", (g)). self is our own address, which cannot
// arrive from the link either (Linux drops such "martian" sources too).
// Directed broadcasts are not checked: the stack has an address without a
// prefix on a point-to-point link. No allocation.
func invalidSource(src, self netip.Addr) bool {
	if !src.Is4() {
		return true
	}
	b := src.As4()
	return b[0] == 0 || b[0] == 127 || b[0] >= 224 || src == self
}
