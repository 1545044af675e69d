package tcp

import "github.com/tunstack/tunstack/segment"

// putSACKBlocks adds SACK blocks to an outgoing ACK (RFC 2018 4).
func (c *Conn) putSACKBlocks(o *segment.Segment) {}
